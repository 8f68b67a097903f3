"""One run per output dir, and output dirs that cannot be one: with real second processes, in
seconds (nothing here imports TensorFlow). The same with whole pipeline runs: test_runs.py."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.lib import project
from pipeline.commands import ExitCode
from pipeline.local import lock as local
from pipeline.local.errors import RunError
from pipeline.paths import LocalPaths
from tests.conftest import REPO

HOLD = """
import sys, time
from pipeline.local import lock as local
from pipeline.paths import LocalPaths
with local.OutputDirLock(LocalPaths.under(sys.argv[1]), sys.argv[2]):
  print('locked', flush=True)
  time.sleep(120)
"""


# Records of the lock's form, with every field of any JSON kind.
JSON = st.recursive(
  st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
  lambda inner: (
    st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
  ),
  max_leaves=10,
)
RECORDS = st.fixed_dictionaries(
  {},
  optional={key: JSON for key in ('pid', 'host', 'run_id', 'started')},
).map(lambda record: json.dumps(record).encode())


@contextlib.contextmanager
def holding(output_dir, run_id='run-A'):
  """A process that holds output_dir as run `run_id` while inside."""
  proc = subprocess.Popen(
    [sys.executable, '-c', HOLD, output_dir, run_id], cwd=REPO, stdout=subprocess.PIPE, text=True
  )
  try:
    assert proc.stdout.readline().strip() == 'locked'
    yield proc
  finally:
    if proc.poll() is None:
      proc.kill()
    proc.wait(timeout=30)


@pytest.fixture
def holder(tmp_path):
  """A process holding tmp_path/D for run 'run-A'."""
  output_dir = str(tmp_path / 'D')
  with holding(output_dir) as proc:
    yield output_dir, proc


def runner(*args, timeout=120):
  return subprocess.run(
    [sys.executable, 'local_runner.py', *args],
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=timeout,
  )


@pytest.mark.slow
def test_a_second_run_is_refused_at_once_naming_the_first(holder):
  output_dir, proc = holder
  started = time.monotonic()
  second = runner('--output-dir', output_dir, '--epochs', '1')
  assert time.monotonic() - started < 30  # no TensorFlow, no data: refused before anything else
  assert second.returncode == 1, second.stdout + second.stderr
  assert second.stdout == ''
  [line] = second.stderr.splitlines()
  assert line.startswith(f'error: {output_dir} is in use by another run (pid {proc.pid}, started ')
  assert ', run run-A)' in line and line.endswith(
    'wait for it to end, or pass another --output-dir'
  )
  assert sorted(os.listdir(output_dir)) == ['.run.lock']  # the second run wrote nothing


def test_in_process_the_same_and_the_lock_goes_when_its_process_dies(holder):
  output_dir, proc = holder
  paths = LocalPaths.under(output_dir)
  assert local.lock_holder(output_dir)['pid'] == proc.pid
  with pytest.raises(RunError) as refused:
    with local.OutputDirLock(paths, 'run-B'):
      pass
  assert refused.value.exit_code == ExitCode.FAILED and f'pid {proc.pid}' in refused.value.line
  proc.send_signal(signal.SIGKILL)
  proc.wait(timeout=30)
  assert local.lock_holder(output_dir) is None
  with local.OutputDirLock(paths, 'run-B'):
    record = json.loads(open(paths.lock_path).read())
    assert record['pid'] == os.getpid() and record['run_id'] == 'run-B'
    assert local.lock_holder(output_dir)['run_id'] == 'run-B'
  assert local.lock_holder(output_dir) is None


def _one_line(proc):
  assert 'Traceback' not in proc.stdout + proc.stderr
  [line] = proc.stderr.splitlines()
  return line


@pytest.mark.slow
def test_an_output_dir_that_is_a_file(tmp_path):
  afile = tmp_path / 'file'
  afile.write_text('x')
  proc = runner('--output-dir', str(afile), '--epochs', '1')
  assert proc.returncode == 2
  assert _one_line(proc) == f'error: --output-dir {afile}: it is a file, not a directory'
  proc = runner('--output-dir', str(afile / 'D'), '--epochs', '1')
  assert proc.returncode == 2
  assert _one_line(proc) == f'error: --output-dir {afile / "D"}: {afile} is a file, not a directory'


@pytest.mark.slow
def test_an_output_dir_that_cannot_be_written(tmp_path):
  if os.geteuid() == 0:  # permissions do not stop root: a place no one can create files in
    places = ['/sys/mnist-tfx-output', '/proc']
  else:
    locked = tmp_path / 'locked'
    locked.mkdir()
    locked.chmod(0o555)
    places = [str(locked / 'D'), str(locked)]
  for place in places:
    proc = runner('--output-dir', place, '--epochs', '1')
    assert proc.returncode == 1, proc.stderr
    line = _one_line(proc)
    assert line.startswith(f'error: --output-dir {place}: cannot write there (')
    assert line.endswith('); choose a directory you can write to')


def test_the_project_is_importable_in_the_runs_subprocesses():
  environ = {'PYTHONPATH': '/opt/mine'}
  project.put_project_on_path(environ)
  assert environ['PYTHONPATH'].split(os.pathsep) == [project.PROJECT_ROOT, '/opt/mine']
  project.put_project_on_path(environ)  # once is enough
  assert environ['PYTHONPATH'].split(os.pathsep) == [project.PROJECT_ROOT, '/opt/mine']
  empty = {}
  project.put_project_on_path(empty)
  assert empty == {'PYTHONPATH': project.PROJECT_ROOT}
  assert os.path.isfile(os.path.join(project.PROJECT_ROOT, 'components', 'mnist_example_gen.py'))


@pytest.mark.parametrize('kind', ['fifo', 'socket', 'device'])
def test_a_lock_file_that_is_not_a_regular_file_is_one_line_at_once(tmp_path, kind):
  """A FIFO would block its reader (`inspect` probes the lock) and fails flock's truncate; a
  socket or a device is no record either. Refused with one line, and `lock_holder` says no run
  holds it, at once."""
  paths = LocalPaths.under(str(tmp_path / 'D'))
  os.makedirs(paths.output_dir)
  if kind == 'fifo':
    os.mkfifo(paths.lock_path)
  elif kind == 'socket':
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(paths.lock_path)
  else:
    os.symlink('/dev/zero', paths.lock_path)
  started = time.monotonic()
  with pytest.raises(RunError) as info:
    with local.OutputDirLock(paths, 'run-B'):
      pass
  line = info.value.line
  assert line.startswith(f"error: {paths.lock_path}: this output dir's run lock cannot be opened (")
  assert line.endswith(f'remove it (rm -r {paths.lock_path}) and rerun') and '\n' not in line
  assert local.lock_holder(paths.output_dir) is None
  assert time.monotonic() - started < 5
  if kind == 'fifo':
    assert 'it is a FIFO, not a regular file' in line
  if kind == 'socket':
    listener.close()


@settings(max_examples=300, deadline=None)
@given(raw=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode), RECORDS))
def test_any_lock_record_is_read_as_fields_of_the_right_form(raw):
  """What a holder wrote, or anything else in the file: never a traceback, only fields of the
  form a run writes, and a one-line description."""
  holder = local.parse_holder(raw)
  assert set(holder) <= {'pid', 'host', 'run_id', 'started'}
  if 'pid' in holder:
    assert type(holder['pid']) is int and 0 < holder['pid'] < 2**31
  assert all(type(holder[k]) is str and holder[k].isprintable() for k in holder if k != 'pid')
  assert '\n' not in local.describe_holder(holder)
