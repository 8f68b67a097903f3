"""The read side starts in a fraction of a second: nothing on its path imports TFX, TFMA, Beam or
TensorFlow (checked in a fresh child process); it reads TFMA's files as TFMA does; options go
before or after the command; a closed pipe is quiet. The times themselves are measured by
benchmarks/metadata_cli.py (make benchmark-metadata), not here."""

import dataclasses
import glob
import json
import os
import subprocess
import sys

import pytest

from components.lib import evaluation_result as evaluation
from inspection import runs
from tests.conftest import REPO

HEAVY = ('tensorflow', 'tfx', 'tensorflow_model_analysis', 'apache_beam', 'keras')
VERSION = '1796669091'  # the version the recorded run 1 pushed

_CHILD = """
import contextlib, io, json, sys
from inspection import cli as cli
output_dir, version = sys.argv[1], sys.argv[2]
codes = []
for argv in (['runs'], ['--json', 'runs'], ['lineage', version], ['compare'], ['compare', '--json'],
             ['artifacts', '--type', 'Examples']):
    with contextlib.redirect_stdout(io.StringIO()):
        codes.append(cli.main(['--output-dir', output_dir] + argv))
heavy = sorted(name for name in sys.modules if name.split('.')[0] in %r)
print(json.dumps({'codes': codes, 'heavy': heavy}))
""" % (HEAVY,)


def test_no_tfx_tfma_beam_or_tensorflow_on_the_read_path(recorded):
  output_dir, _ = recorded
  proc = subprocess.run(
    [sys.executable, '-c', _CHILD, output_dir, VERSION],
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert proc.returncode == 0, proc.stderr
  result = json.loads(proc.stdout.splitlines()[-1])
  assert result['codes'] == [0] * 6
  assert result['heavy'] == [], f'imported on the read path: {result["heavy"][:10]}'


def test_tfma_files_read_as_tfma_reads_them(recorded):
  """The TF-free reader sees exactly the records and config TFMA's own loaders see in every
  recorded evaluation, and reads the gate's decision from them."""
  import tensorflow_model_analysis as tfma
  from tensorflow_model_analysis.writers import eval_config_writer

  _, store = recorded
  uris = [a.uri for a in runs.artifacts_by_type(store, 'ModelEvaluation')]
  assert len(uris) == 2
  protos = evaluation._tfma_protos()
  for uri in uris:
    ours = [
      protos['metrics'].MetricsForSlice.FromString(r)
      for path in sorted(glob.glob(os.path.join(uri, 'metrics*')))
      for r in evaluation._records(path)
    ]
    assert [m.SerializeToString() for m in ours] == [
      m.SerializeToString() for m in tfma.load_metrics(uri)
    ]
    [validations] = glob.glob(os.path.join(uri, 'validations*'))
    [record] = evaluation._records(validations)
    assert record == tfma.load_validation_result(uri).SerializeToString()
    read = evaluation.read_evaluation(uri)
    config = eval_config_writer.load_eval_run(uri)[0]
    [bound] = [
      m.threshold.value_threshold.lower_bound.value
      for spec in config.metrics_specs
      for m in spec.metrics
      if m.class_name == evaluation.ACCURACY_CLASS
    ]
    assert read.accuracy_threshold == bound and read.accuracy is not None
  accepted, refused = (evaluation.read_evaluation(uri) for uri in uris)
  assert refused.failures == ['sparse_categorical_accuracy 0.8890 is below the bound 0.9999']
  assert accepted.failures == [] and accepted.example_count > 0


def _cli(*args, cwd=REPO):
  return subprocess.run(
    [sys.executable, '-m', 'inspection', *args],
    cwd=cwd,
    capture_output=True,
    text=True,
    timeout=120,
    env=dict(os.environ, PYTHONPATH=REPO),
  )


def test_options_before_or_after_the_command(recorded, tmp_path):
  output_dir, _ = recorded
  before = _cli('--output-dir', output_dir, '--json', 'runs', cwd=str(tmp_path))
  after = _cli('runs', '--output-dir', output_dir, '--json', cwd=str(tmp_path))
  mixed = _cli('--json', 'runs', '--output-dir', output_dir, cwd=str(tmp_path))
  assert before.returncode == after.returncode == mixed.returncode == 0, (
    before.stderr + after.stderr
  )
  assert json.loads(before.stdout) == json.loads(after.stdout) == json.loads(mixed.stdout)
  # Given after the command, a value overrides the one given before it.
  overridden = _cli(
    '--output-dir', str(tmp_path / 'nothing'), 'lineage', VERSION, '--output-dir', output_dir
  )
  assert overridden.returncode == 0 and overridden.stdout.startswith('PushedModel #'), (
    overridden.stderr
  )
  missing = _cli('runs', '--output-dir', str(tmp_path / 'nothing'))
  assert (
    missing.returncode == 1
    and missing.stderr.count('\n') == 1
    and 'no ML Metadata store there' in missing.stderr
  )


@pytest.mark.parametrize('args', [['runs'], ['--json', 'lineage', VERSION]])
def test_a_closed_pipe_is_quiet(recorded, args):
  """`… runs | head -1`: the reader has gone before the command prints (its end of the pipe is
  closed at once, so the write fails for sure): no BrokenPipeError traceback, exit 0."""
  output_dir, _ = recorded
  child = subprocess.Popen(
    [sys.executable, '-m', 'inspection', '--output-dir', output_dir, *args],
    cwd=REPO,
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
  )
  child.stdout.close()
  err = child.stderr.read().decode()
  assert child.wait(timeout=120) == 0 and err == '', err
  shell = subprocess.run(
    [
      'sh',
      '-c',
      '"$@" | true',
      'sh',
      sys.executable,
      '-m',
      'inspection',
      '--output-dir',
      output_dir,
      *args,
    ],
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert shell.stderr == ''


@pytest.mark.slow  # imports TensorFlow and tensorflow-io for s3://
def test_an_evaluation_on_an_object_store_reads_the_same(recorded, s3_server):
  """The same reader on s3:// (a loopback S3-compatible server), through TensorFlow's filesystems
  (the KFP results step and the ServingCheck read evaluations there)."""
  from tests.conftest import s3_client

  _, store = recorded
  client = s3_client(s3_server)
  for index, uri in enumerate(a.uri for a in runs.artifacts_by_type(store, 'ModelEvaluation')):
    for name in os.listdir(uri):
      client.upload_file(os.path.join(uri, name), 'mnist-tfx', f'evaluations/{index}/{name}')
    script = (
      'import dataclasses, json, sys; from components.lib import evaluation_result as e; '
      'print(json.dumps(dataclasses.asdict(e.read_evaluation(sys.argv[1]))))'
    )
    proc = subprocess.run(
      [sys.executable, '-c', script, f's3://mnist-tfx/evaluations/{index}'],
      cwd=REPO,
      capture_output=True,
      text=True,
      timeout=300,
      env=dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL='3', **s3_server),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.splitlines()[-1]) == dataclasses.asdict(
      evaluation.read_evaluation(uri)
    )


def test_served_lists_versions_whatever_their_records_say_and_names_the_rest(tmp_path, capsys):
  """`inspect served` reads only the serving dir: a hand-edited record (a list, a time past
  9999, NaN) is no record, one row each; folders that are no version are named on stderr."""
  from inspection import cli

  serving = tmp_path / 'serving'
  records = {
    '1': '[1]',
    '2': '{"pushed_at": 1e300}',
    '3': '{"pushed_at": NaN}',
    '4': '{"model_uri": 5}',
  }
  for version, text in records.items():
    (serving / version / 'assets.extra').mkdir(parents=True)
    (serving / version / 'assets.extra' / 'pushed_from.json').write_text(text)
  (serving / '5' / 'assets.extra').mkdir(parents=True)
  (serving / '5' / 'assets.extra' / 'pushed_from.json').write_text(
    '{"model_uri": "/m", "pushed_at": 0}'
  )
  (serving / '²').mkdir()
  assert cli.main(['--output-dir', str(tmp_path), '--json', 'served']) == 0
  out, err = capsys.readouterr()
  rows = json.loads(out)
  assert [(r['version'], r['model_uri']) for r in rows] == [
    (1, None),
    (2, None),
    (3, None),
    (4, None),
    (5, '/m'),
  ]
  assert rows[-1]['pushed_at'].startswith('1970-01-01') or rows[-1]['pushed_at'].startswith(
    '1969-12-31'
  )
  assert err == (
    f'Ignored in {serving}: ² (not version numbers: a server loads only folders named by a plain '
    'decimal number)\n'
  )
