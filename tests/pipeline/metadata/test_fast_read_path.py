"""The read side starts in a fraction of a second: nothing on its path imports TFX, TFMA, Beam or
TensorFlow (checked in a fresh child process); it reads TFMA's files as TFMA does; options go
before or after the command; a closed pipe is quiet. The times themselves are measured by
benchmarks/metadata_cli.py (make benchmark-metadata), not here."""
import ast
import dataclasses
import json
import os
import subprocess
import sys

import pytest

from pipeline.metadata import evaluation, runs
from tests.conftest import REPO

HEAVY = ('tensorflow', 'tfx', 'tensorflow_model_analysis', 'apache_beam', 'keras')
VERSION = '1795742029'  # the version the recorded run 1 pushed

_CHILD = '''
import contextlib, io, json, sys
from pipeline.metadata import __main__ as cli
output_dir, version = sys.argv[1], sys.argv[2]
codes = []
for argv in (['runs'], ['--json', 'runs'], ['lineage', version], ['compare'], ['compare', '--json'],
             ['artifacts', '--type', 'Examples']):
    with contextlib.redirect_stdout(io.StringIO()):
        codes.append(cli.main(['--output-dir', output_dir] + argv))
heavy = sorted(name for name in sys.modules if name.split('.')[0] in %r)
print(json.dumps({'codes': codes, 'heavy': heavy}))
''' % (HEAVY,)


def test_no_tfx_tfma_beam_or_tensorflow_on_the_read_path(recorded):
  output_dir, _ = recorded
  proc = subprocess.run([sys.executable, '-c', _CHILD, output_dir, VERSION], cwd=REPO,
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode == 0, proc.stderr
  result = json.loads(proc.stdout.splitlines()[-1])
  assert result['codes'] == [0] * 6
  assert result['heavy'] == [], f'imported on the read path: {result["heavy"][:10]}'


def test_tfma_files_read_as_tfma_reads_them(recorded):
  """The TF-free reader and TFMA's own loaders (components.mnist_evaluator) agree on every
  recorded evaluation: accuracy, baseline, failures, bound, change threshold, example count."""
  from components.mnist_evaluator import read_evaluation as with_tfma
  _, store = recorded
  uris = [a.uri for a in runs.artifacts_by_type(store, 'ModelEvaluation')]
  assert len(uris) == 2
  for uri in uris:
    assert dataclasses.asdict(evaluation.read_evaluation(uri)) == dataclasses.asdict(with_tfma(uri))
  refused = evaluation.read_evaluation(uris[1])
  assert refused.failures == ['sparse_categorical_accuracy 0.8950 is below the bound 0.9999']


def test_constants_match_the_components_that_write_them():
  """Names read here without importing their components (which import TensorFlow)."""
  def constant(path, name):
    with open(os.path.join(REPO, path)) as f:
      tree = ast.parse(f.read())
    return next(node.value.value for node in tree.body if isinstance(node, ast.Assign)
                and any(getattr(t, 'id', None) == name for t in node.targets))
  assert runs.ALREADY_SERVING_KEY == constant('components/mnist_pusher.py', 'ALREADY_SERVING_KEY')
  for name in ('ACCURACY_CLASS', 'ACCURACY_METRIC', 'EXAMPLE_COUNT_METRIC'):
    assert getattr(evaluation, name) == constant('components/mnist_evaluator.py', name)


def _cli(*args, cwd=REPO):
  return subprocess.run([sys.executable, '-m', 'pipeline.metadata', *args], cwd=cwd, capture_output=True,
                        text=True, timeout=120, env=dict(os.environ, PYTHONPATH=REPO))


def test_options_before_or_after_the_command(recorded, tmp_path):
  output_dir, _ = recorded
  before = _cli('--output-dir', output_dir, '--json', 'runs', cwd=str(tmp_path))
  after = _cli('runs', '--output-dir', output_dir, '--json', cwd=str(tmp_path))
  mixed = _cli('--json', 'runs', '--output-dir', output_dir, cwd=str(tmp_path))
  assert before.returncode == after.returncode == mixed.returncode == 0, before.stderr + after.stderr
  assert json.loads(before.stdout) == json.loads(after.stdout) == json.loads(mixed.stdout)
  # Given after the command, a value overrides the one given before it.
  overridden = _cli('--output-dir', str(tmp_path / 'nothing'), 'lineage', VERSION, '--output-dir', output_dir)
  assert overridden.returncode == 0 and overridden.stdout.startswith('PushedModel #'), overridden.stderr
  missing = _cli('runs', '--output-dir', str(tmp_path / 'nothing'))
  assert missing.returncode == 1 and missing.stderr.count('\n') == 1 and 'no ML Metadata store there' in missing.stderr


@pytest.mark.parametrize('args', [['runs'], ['--json', 'lineage', VERSION]])
def test_a_closed_pipe_is_quiet(recorded, args):
  """`… runs | head -1`: the reader has gone before the command prints (its end of the pipe is
  closed at once, so the write fails for sure): no BrokenPipeError traceback, exit 0."""
  output_dir, _ = recorded
  child = subprocess.Popen([sys.executable, '-m', 'pipeline.metadata', '--output-dir', output_dir, *args],
                           cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
  child.stdout.close()
  err = child.stderr.read().decode()
  assert child.wait(timeout=120) == 0 and err == '', err
  shell = subprocess.run(['sh', '-c', '"$@" | true', 'sh', sys.executable, '-m', 'pipeline.metadata',
                          '--output-dir', output_dir, *args], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
  assert shell.stderr == ''
