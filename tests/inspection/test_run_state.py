"""A run's own summary and its state (running / complete / failed / interrupted), on the recorded
two runs: seconds, no pipeline run. A real run killed mid-Trainer:
tests/pipeline/local/test_runs.py."""

import os
import re
import socket
import subprocess
import sys
import time

import pytest
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from inspection import runs
from inspection import summary as summary_lib
from pipeline import store as store_lib
from pipeline.commands import ExitCode
from pipeline.local import run_record
from pipeline.local.errors import RunError
from pipeline.paths import LocalPaths
from tests.inspection.test_collect import VERSION


@pytest.mark.parametrize(
  'recorded_state, alive, states, expected',
  [
    ('complete', False, {'Trainer': 'COMPLETE'}, 'complete'),  # what the runner recorded wins
    ('failed', False, {'Trainer': 'FAILED'}, 'failed'),
    ('running', True, {'Trainer': 'RUNNING'}, 'running'),
    ('running', False, {'Trainer': 'RUNNING'}, 'interrupted'),  # killed: no end recorded
    ('running', False, {'Trainer': 'COMPLETE'}, 'interrupted'),  # killed between two components
    ('running', False, {}, 'interrupted'),  # killed before the first one
    (None, None, {'Trainer': 'COMPLETE', 'Pusher': 'CACHED'}, 'complete'),  # older runs, Kubeflow
    (None, None, {'Trainer': 'FAILED'}, 'failed'),
    (None, None, {'Trainer': 'RUNNING'}, 'running'),  # nobody to ask
    ('running', None, {'Trainer': 'RUNNING'}, 'running'),  # recorded on another host
  ],
)
def test_the_rule(monkeypatch, recorded_state, alive, states, expected):
  monkeypatch.setattr(run_record, 'process_alive', lambda runner: alive)
  assert runs.run_state(recorded_state, {'runner_pid': 1}, states) == expected


def test_process_identity():
  me = run_record.this_process()
  assert run_record.process_alive(me) is True
  later = {**me, run_record.RUNNER_STARTED: me[run_record.RUNNER_STARTED] + 1}
  assert run_record.process_alive(later) is False  # the same pid, another process
  assert (
    run_record.process_alive({**me, run_record.RUNNER_HOST: 'another-host'}) is None
  )  # cannot tell
  assert run_record.process_alive({}) is None
  gone = subprocess.Popen([sys.executable, '-c', 'pass'])
  gone.wait()
  assert run_record.process_alive({**me, run_record.RUNNER_PID: gone.pid}) is False


def test_a_record_in_clock_ticks_since_boot_is_still_understood():
  """Runs recorded before psutil wrote the runner's start as /proc's ticks since boot."""
  with open(f'/proc/{os.getpid()}/stat') as f:
    ticks = int(f.read().rsplit(')', 1)[1].split()[19])
  me = {
    run_record.RUNNER_PID: os.getpid(),
    run_record.RUNNER_HOST: socket.gethostname(),
    run_record.RUNNER_START_TICKS: ticks,
  }
  assert run_record.process_alive(me) is True
  assert run_record.process_alive({**me, run_record.RUNNER_START_TICKS: ticks + 100}) is False


def _dead_pid() -> int:
  proc = subprocess.Popen([sys.executable, '-c', 'pass'])
  proc.wait()
  return proc.pid


def _as_if_running(sqlite_path: str, context_name: str, runner) -> None:
  """The newest recorded run, rewritten as local_runner.py leaves a run it is in the middle of:
  its identity on the run, no end recorded, the Evaluator's execution RUNNING."""
  config = store_lib.sqlite_config(sqlite_path, read_only=False)
  store = metadata_store.MetadataStore(config)
  context = runs.run_context(store, context_name)
  assert context is not None, context_name
  for key, value in {**runner, runs.RUN_STATE: runs.RUNNING}.items():
    kind = (
      'int_value'
      if isinstance(value, int)
      else 'double_value'
      if isinstance(value, float)
      else 'string_value'
    )
    setattr(context.custom_properties[key], kind, value)
  store.put_contexts([context])
  executions = store.get_executions_by_context(context.id)
  for execution in executions:
    if runs.node_id(store, execution.id) == 'Evaluator':
      execution.last_known_state = metadata_store_pb2.Execution.RUNNING
      store.put_executions([execution])


def test_a_run_whose_process_is_gone_is_interrupted(recorded):
  output_dir, store = recorded
  newest = runs.runs(store)[0].name
  _as_if_running(
    LocalPaths.under(output_dir).metadata_path,
    newest,
    {**run_record.this_process(), run_record.RUNNER_PID: _dead_pid()},
  )
  summary = runs.summarize_run(store, runs.run_context(store, newest))
  assert summary.state == 'interrupted'
  assert summary.component_states['Evaluator'] == 'INTERRUPTED'
  assert 'RUNNING' not in summary.component_states.values()
  assert summary.runner['host'] == socket.gethostname()
  older = runs.summarize_run(store, runs.runs(store)[1])
  assert older.state == 'complete' and set(older.runner) >= {'pid', 'host'}  # who ran it


def test_a_run_whose_process_lives_is_running(recorded):
  output_dir, store = recorded
  newest = runs.runs(store)[0].name
  _as_if_running(LocalPaths.under(output_dir).metadata_path, newest, run_record.this_process())
  summary = runs.summarize_run(store, runs.run_context(store, newest))
  assert summary.state == 'running' and summary.component_states['Evaluator'] == 'RUNNING'


@pytest.mark.parametrize(
  'which, code, pushed',
  [
    (1, ExitCode.OK, f'/serving/{VERSION} (version {VERSION})'),
    (0, ExitCode.NOT_PUSHED, 'nothing (the model being served, if any, is unchanged)'),
  ],
)
def test_the_summary_is_of_the_run_named_not_the_newest(recorded, capsys, which, code, pushed):
  """The older run pushed; a newer one exists in the same store. Each run's summary is its own."""
  output_dir, store = recorded
  run_id = runs.runs(store)[which].name
  paths = LocalPaths.under(output_dir)
  assert (
    summary_lib.report_and_summary(
      store_lib.sqlite_config(paths.metadata_path, read_only=True), paths, time.monotonic(), run_id
    )
    == code
  )
  out = capsys.readouterr().out
  assert re.search(r'^Pushed:\s+.*' + re.escape(pushed) + '$', out, re.M), out
  assert f'(run {run_id})' in out
  with pytest.raises(RunError):
    summary_lib.report_and_summary(
      store_lib.sqlite_config(paths.metadata_path, read_only=True),
      paths,
      time.monotonic(),
      'no-such-run',
    )
