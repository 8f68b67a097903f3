"""The run summary's commands run exactly as printed, from any directory: absolute paths, the
version the run pushed, examples from the run's own eval split, a TensorBoard line; and the run
records how it was made (versions, commit, machine, total time) in its store."""

import os
import re
import shlex
import subprocess
import time

import numpy as np

from inspection import model_quality, report, runs
from inspection import summary as summary_lib
from pipeline import store as store_lib
from pipeline.commands import ExitCode
from pipeline.local import run_record
from pipeline.paths import LocalPaths

VERSION = '1796669091'


def _summary(recorded, capsys, which):
  output_dir, store = recorded
  run_id = runs.runs(store)[which].name
  paths = LocalPaths.under(output_dir)
  code = summary_lib.report_and_summary(
    store_lib.sqlite_config(paths.metadata_path, read_only=False),
    paths,
    time.monotonic() - 42,
    run_id,
  )
  out = capsys.readouterr().out
  return code, dict(re.findall(r'^([A-Za-z ]+):\s+(.*)$', out, re.M)), run_id


def _shell(command, cwd):
  return subprocess.run(['sh', '-c', command], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_every_command_of_a_pushed_run_s_summary_runs_as_printed(recorded, capsys, tmp_path):
  output_dir, store = recorded
  code, lines, run_id = _summary(recorded, capsys, 1)
  assert code == ExitCode.OK
  assert lines['Inspect'].endswith(f'--output-dir {output_dir} lineage {VERSION}')
  lineage = _shell(lines['Inspect'], cwd=str(tmp_path))  # not the project root
  assert (
    lineage.returncode == 0 and lineage.stdout.startswith('PushedModel #') and lineage.stderr == ''
  )
  compared = _shell(lines['Compare'], cwd=str(tmp_path))
  assert compared.returncode == 0 and '(* differs)' in compared.stdout, compared.stderr
  # TensorBoard over every run's Trainer logs (a server: checked, not started).
  tensorboard, logdir = shlex.split(lines['TensorBoard'].split('  #')[0])[0::2]
  assert os.path.isabs(tensorboard) and os.access(tensorboard, os.X_OK)
  assert logdir == os.path.join(output_dir, 'pipeline_root', 'Trainer', 'model_run')
  # Try it: the pushed version and the run's own first eval examples (the recording keeps no
  # model, so the command is checked, not run; tests/predict/test_predict.py runs predict).
  command, comment = lines['Try it'].split('  # true: ')
  words = shlex.split(command)
  assert (
    words[-4] in ('predict', 'predict')
    and words[-3] == '--model'
    and words[-2] == os.path.join(output_dir, 'serving', VERSION)
  )
  examples = np.load(words[-1])
  [summary] = [runs.summarize_run(store, c) for c in runs.runs(store) if c.name == run_id]
  images, labels = model_quality.read_split(summary.uris['Examples'], 'eval')
  assert examples.dtype == np.float32 and examples.shape == (5, 28, 28)
  np.testing.assert_allclose(examples, images[:5] / 255.0, atol=1e-6)
  assert comment == ', '.join(str(label) for label in labels[:5])
  assert lines['Report'].startswith(output_dir) and os.path.exists(lines['Report'])
  assert os.path.exists(os.path.join(output_dir, 'index.html'))


def test_the_report_says_how_the_model_was_made(recorded, capsys):
  """What a run records at its end (pipeline/local/run_record.py), shown by its report."""
  output_dir, store = recorded
  writable = store_lib.open_store(
    store_lib.sqlite_config(os.path.join(output_dir, 'metadata.sqlite'), False)
  )
  context = runs.run_context(writable, runs.runs(store)[0].name)
  for key, value in run_record.end_values(run_record.COMPLETE, 42.5).items():
    setattr(
      context.custom_properties[key],
      'double_value' if isinstance(value, float) else 'string_value',
      value,
    )
  writable.put_contexts([context])
  _, _, run_id = _summary(recorded, capsys, 0)
  made = runs.summarize_run(store, runs.run_context(store, run_id)).provenance
  assert made['total_seconds'] >= 42 and made['versions']['TFX'] == '1.16.0' and made['git_commit']
  with open(report.report_path(output_dir, run_id)) as f:
    page = f.read()
  assert 'How this model was made' in page and 'TFX</td><td>1.16.0' in page
  with open(os.path.join(output_dir, 'index.html')) as f:
    index = f.read()
  for context in runs.runs(store):  # every run listed, linked where it has a report
    assert context.name in index
  assert 'href="reports/' in index and 'mnist epochs=2 batch=128 lr=0.001' in index


def test_a_refused_run_names_no_version(recorded, capsys):
  code, lines, _ = _summary(recorded, capsys, 0)
  assert code == ExitCode.NOT_PUSHED and 'Try it' not in lines
  assert lines['Inspect'].endswith(' runs') and 'VERSION' not in lines['Inspect']
