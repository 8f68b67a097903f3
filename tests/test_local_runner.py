"""End to end: `python local_runner.py` in a subprocess, real TFX, Beam, TFMA and ML Metadata."""

import dataclasses
import gzip
import os
import re
import subprocess
import sys

import pytest

import local_runner
from components.lib import datasets, idx
from components.lib.artifact_files import read_serving_result
from inspection import runs
from tests.conftest import REPO
from trainer_module import SEED_EXAMPLES_NPY

pytestmark = pytest.mark.slow
EXIT_NOT_BLESSED = 3


def run_local(*args, env=None, timeout=900):
  full_env = dict(os.environ, **(env or {}))
  return subprocess.run(
    [sys.executable, 'local_runner.py', *args],
    cwd=REPO,
    env=full_env,
    capture_output=True,
    text=True,
    timeout=timeout,
  )


def versions(output_dir):
  serving = os.path.join(output_dir, 'serving')
  return (
    sorted(name for name in os.listdir(serving) if name != 'models.config')
    if os.path.isdir(serving)
    else []
  )


@pytest.fixture(scope='module')
def blessed_run(tmp_path_factory, mnist_dir):
  """The issue's acceptance command: full MNIST, one epoch, bound 0.9."""
  output_dir = str(tmp_path_factory.mktemp('e2e') / 'D')
  proc = run_local(
    '--data-dir',
    mnist_dir,
    '--output-dir',
    output_dir,
    '--epochs',
    '1',
    '--accuracy-threshold',
    '0.9',
  )
  return output_dir, proc


def test_blessed_and_pushed(blessed_run):
  output_dir, proc = blessed_run
  assert proc.returncode == 0, proc.stdout + proc.stderr
  [version] = versions(output_dir)
  assert version.isdigit()
  assert os.path.exists(os.path.join(output_dir, 'serving', version, 'saved_model.pb'))
  for component in ('Trainer', 'Evaluator', 'Pusher'):
    assert re.search(rf'^{component}\s+[\d.]+ s$', proc.stdout, re.M), proc.stdout
  assert re.search(
    r'^ServingCheck\s+[\d.]+ s \(servable, p99 [\d.]+ ms for one image\)$', proc.stdout, re.M
  ), proc.stdout
  # Progress a person can follow: what starts, example counts, Keras' epochs, the report.
  assert re.search(r'^MnistExampleGen\s+[\d.]+ s \(train 60000, eval 10000\)$', proc.stdout, re.M)
  assert 'MnistExampleGen: validating the IDX files' in proc.stdout
  assert 'Evaluator: TFMA on the eval split' in proc.stdout
  assert re.search(
    r'^Trainer: 55000 examples \(5000 held out for validation\), 1 epoch, '
    r'(mixed_bfloat16|float32) \(--precision auto\), augmented: ±10°, zoom ±0\.1, ±2 px$',
    proc.stdout,
    re.M,
  ), proc.stdout
  # 55,000 trained (5,000 held out for validation) / batch 128
  assert re.search(r'^430/430 .* accuracy: .* val_accuracy: ', proc.stdout, re.M)
  assert re.search(r'^Report:\s+\S+/reports/\S+/report.html$', proc.stdout, re.M)
  accuracy = float(re.search(r'Test accuracy:\s+([\d.]+)', proc.stdout).group(1))
  assert accuracy >= 0.97
  assert 'Blessed:         yes' in proc.stdout
  assert 'Traceback' not in proc.stdout + proc.stderr
  summary = runs.latest_run(os.path.join(output_dir, 'metadata.sqlite'))
  assert summary.blessed and summary.pushed_version == version
  assert abs(summary.accuracy - accuracy) < 1e-4
  # MNIST's own training defaults (components/lib/datasets.py) reached the Trainer: --epochs was
  # given.
  expected = dict(dataclasses.asdict(datasets.MNIST.training_defaults), epochs=1)
  assert {k: summary.settings.get(k) for k in expected} == expected, summary.settings
  assert re.search(
    r'^Serving check:   passed — one image in [\d.]+ ms \(p50\), [\d.]+ ms \(p99\)$',
    proc.stdout,
    re.M,
  ), proc.stdout
  assert summary.servable and summary.serving_failures == []


def test_the_serving_check_saw_what_the_evaluator_saw(blessed_run):
  """A fresh process answered all 10,000 test digits through both signatures, exactly as TFMA
  scored them through serving_default in the Evaluator."""
  output_dir, proc = blessed_run
  assert proc.returncode == 0
  summary = runs.latest_run(os.path.join(output_dir, 'metadata.sqlite'))
  check = read_serving_result(summary.uris['InfraBlessing'])
  assert check['passed'] and check['examples'] == check['evaluator_examples'] == 10000
  assert check['disagreements'] == 0
  assert abs(check['accuracy_classify'] - summary.accuracy) < 1e-6
  assert check['accuracy_serving_default'] == check['accuracy_classify']
  assert check['warmup_requests'] == 4 and check['refused'] == ['0-255 pixels', 'NaN pixels']
  assert os.path.exists(os.path.join(summary.uris['InfraBlessing'], 'INFRA_BLESSED'))


def test_pushed_model_answers_the_seeds_saved_model_cli_example(blessed_run):
  output_dir, proc = blessed_run
  assert proc.returncode == 0
  [version] = versions(output_dir)
  cli = os.path.join(os.path.dirname(sys.executable), 'saved_model_cli')
  out = subprocess.run(
    [
      cli,
      'run',
      '--dir',
      os.path.join(output_dir, 'serving', version),
      '--tag_set',
      'serve',
      '--signature_def',
      'classify',
      '--inputs',
      'image=' + SEED_EXAMPLES_NPY,
    ],
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert out.returncode == 0, out.stderr
  classes = re.search(r'Result for output key classes:\s*\n\[([^\]]*)\]', out.stdout)
  assert classes and classes.group(1).split() == ['5', '3'], out.stdout


def test_identical_rerun_is_cached_end_to_end_and_pushes_no_new_version(blessed_run, mnist_dir):
  """The baseline lookup never returns the candidate itself, so the Evaluator's inputs are those
  of the first run: every component is cached, and the version that serves the model stays the
  only one."""
  output_dir, first = blessed_run
  assert first.returncode == 0
  [version] = versions(output_dir)
  first_run = re.search(r'^ML Metadata:\s+\S+ \(run (\S+)\)$', first.stdout, re.M).group(1)
  proc = run_local(
    '--data-dir',
    mnist_dir,
    '--output-dir',
    output_dir,
    '--epochs',
    '1',
    '--accuracy-threshold',
    '0.9',
  )
  assert proc.returncode == 0, proc.stdout + proc.stderr
  for component in ('MnistExampleGen', 'Trainer', 'Evaluator', 'ServingCheck', 'Pusher'):
    assert re.search(rf'^{component}\s+[\d.]+ s \(cached\)$', proc.stdout, re.M), proc.stdout
  assert 'Blessed:         yes' in proc.stdout
  assert (
    f'Pushed:          nothing new — unchanged since run {first_run}, version {version} serves it '
    f'({os.path.join(output_dir, "serving", version)})'
  ) in proc.stdout, proc.stdout
  assert versions(output_dir) == [version]
  summary = runs.latest_run(os.path.join(output_dir, 'metadata.sqlite'))
  assert summary.pushed_version is None and summary.already_serving == version
  states = dict(summary.component_states)
  assert states.pop('LatestBlessedModelResolver') == 'COMPLETE'  # a lookup: nothing to cache
  assert len(states) == 9 and set(states.values()) == {'CACHED'}, summary.component_states
  assert summary.baseline_accuracy is None  # the first run's: no other model was ever blessed


def test_impossible_bound_reuses_cache_and_pushes_nothing(blessed_run, mnist_dir):
  output_dir, first = blessed_run
  assert first.returncode == 0
  before = versions(output_dir)
  proc = run_local(
    '--data-dir',
    mnist_dir,
    '--output-dir',
    output_dir,
    '--epochs',
    '1',
    '--accuracy-threshold',
    '0.9999',
  )
  assert proc.returncode == EXIT_NOT_BLESSED, proc.stdout + proc.stderr
  assert versions(output_dir) == before
  assert re.search(r'^MnistExampleGen\s+[\d.]+ s \(cached\)$', proc.stdout, re.M)
  assert re.search(r'^Trainer\s+[\d.]+ s \(cached\)$', proc.stdout, re.M)
  assert 'is below the bound 0.9999' in proc.stdout
  summary = runs.latest_run(os.path.join(output_dir, 'metadata.sqlite'))
  assert summary.component_states['MnistExampleGen'] == 'CACHED'
  assert summary.component_states['Trainer'] == 'CACHED'
  assert summary.blessed is False and summary.pushed_version is None


def test_a_model_too_slow_to_serve_is_not_pushed(blessed_run, mnist_dir):
  """Blessed by the Evaluator, refused by the serving check: nothing pushed, exit 3, the reason."""
  output_dir, first = blessed_run
  assert first.returncode == 0
  before = versions(output_dir)
  proc = run_local(
    '--data-dir',
    mnist_dir,
    '--output-dir',
    output_dir,
    '--epochs',
    '1',
    '--accuracy-threshold',
    '0.9',
    '--serving-latency-bound',
    '0.001',
  )
  assert proc.returncode == EXIT_NOT_BLESSED, proc.stdout + proc.stderr
  assert re.search(r'^ServingCheck\s+[\d.]+ s \(NOT servable, ', proc.stdout, re.M), proc.stdout
  assert 'Blessed:         yes' in proc.stdout
  assert re.search(
    r'^Serving check:   FAILED — single-image p99 latency [\d.]+ ms is over the bound '
    r'0.001 ms$',
    proc.stdout,
    re.M,
  ), proc.stdout
  assert 'Pushed:          nothing (the model being served, if any, is unchanged)' in proc.stdout
  assert versions(output_dir) == before
  summary = runs.latest_run(os.path.join(output_dir, 'metadata.sqlite'))
  assert summary.servable is False and summary.pushed_version is None
  assert summary.already_serving is None


def test_model_worse_than_the_blessed_one_is_not_pushed(blessed_run, mnist_dir):
  output_dir, first = blessed_run
  assert first.returncode == 0
  before = versions(output_dir)
  proc = run_local(
    '--data-dir',
    mnist_dir,
    '--output-dir',
    output_dir,
    '--epochs',
    '1',
    '--train-examples',
    '256',
    '--accuracy-threshold',
    '0.1',
  )
  assert proc.returncode == EXIT_NOT_BLESSED, proc.stdout + proc.stderr
  assert 'against the last blessed model' in proc.stdout
  assert versions(output_dir) == before
  summary = runs.latest_run(os.path.join(output_dir, 'metadata.sqlite'))
  # Compared with the model the first run blessed (the reruns since reused its Trainer), and
  # refused for the very difference it printed.
  served = float(re.search(r'Test accuracy:\s+([\d.]+)', first.stdout).group(1))
  accuracy = float(re.search(r'Test accuracy:\s+([\d.]+)', proc.stdout).group(1))
  assert abs(summary.baseline_accuracy - served) < 1e-4 and abs(summary.accuracy - accuracy) < 1e-4
  change = re.search(r'changed by ([-+][\d.]+) against the last blessed model', proc.stdout)
  assert change and abs(float(change.group(1)) - (accuracy - served)) < 2e-4, proc.stdout
  assert accuracy < served


def _break_copy(tmp_path, mnist_dir, kind):
  """A copy of the real data with one file broken in one of the ways ExampleGen must refuse."""
  folder = tmp_path / f'data-{kind}'
  folder.mkdir()
  for spec in idx.ALL_FILES:
    os.symlink(os.path.join(mnist_dir, spec.name), folder / spec.name)
  name = 't10k-labels-idx1-ubyte.gz' if 'label' in kind else 't10k-images-idx3-ubyte.gz'
  with open(os.path.join(mnist_dir, name), 'rb') as f:
    data = bytearray(gzip.decompress(f.read()))
  if kind == 'not_gzip':
    raw = b'<html>404</html>'
  else:
    if kind == 'bad_magic':
      data[3] = 0x01
    elif kind == 'not_28x28':
      data[15] = 27
    elif kind == 'truncated':
      data = data[:-100]
    elif kind == 'label_count':
      data[4:8] = (9999).to_bytes(4, 'big')
      data = data[:-1]
    elif kind == 'label_range':
      data[8 + 5] = 10
    elif kind == 'digest':
      data[16 + 400] ^= 0x01
    raw = gzip.compress(bytes(data), compresslevel=1)
  os.remove(folder / name)
  with open(folder / name, 'wb') as f:
    f.write(raw)
  return str(folder), name


@pytest.mark.parametrize(
  'kind, message',
  [
    ('not_gzip', 'not a readable gzip file'),
    ('bad_magic', 'bad magic number'),
    ('not_28x28', 'expected 28x28'),
    ('truncated', 'does not match its header'),
    ('label_count', '9999 labels but'),
    ('label_range', 'label 10 at index 5 is outside 0-9'),
    ('digest', 'not the canonical MNIST file'),
  ],
)
def test_broken_input_is_refused_with_one_line(tmp_path, mnist_dir, kind, message, capsys):
  """In the test's process (the pre-flight refuses before any pipeline runs); the runner as a
  command refuses a data dir in test_missing_file_and_no_data_at_all."""
  data_dir, name = _break_copy(tmp_path, mnist_dir, kind)
  output_dir = str(tmp_path / 'out')
  code = local_runner.main(['--data-dir', data_dir, '--output-dir', output_dir, '--epochs', '1'])
  out, err = capsys.readouterr()
  assert code == 1, out + err
  errors = [line for line in err.splitlines() if line.strip()]
  assert len(errors) == 1 and errors[0].startswith(f'error: {name}: '), err
  assert message in errors[0]
  assert 'Traceback' not in out + err
  assert 'Trainer' not in out
  assert versions(output_dir) == []


def test_missing_file_and_no_data_at_all(tmp_path, mnist_dir):
  partial = tmp_path / 'partial'
  partial.mkdir()
  os.symlink(
    os.path.join(mnist_dir, 'train-images-idx3-ubyte.gz'), partial / 'train-images-idx3-ubyte.gz'
  )
  proc = run_local('--data-dir', str(partial), '--output-dir', str(tmp_path / 'o1'))
  assert proc.returncode == 1
  assert proc.stderr.strip().startswith('error: train-labels-idx1-ubyte.gz, ')
  assert 'missing from' in proc.stderr and 'Traceback' not in proc.stderr

  # No --data-dir, no MNIST_DATA_DIR, and no reachable mirror (nothing listens on port 9).
  env = {
    'MNIST_DATA_DIR': '',
    'MNIST_MIRRORS': 'http://127.0.0.1:9/',
    'XDG_CACHE_HOME': str(tmp_path / 'cache'),
  }
  proc = run_local('--output-dir', str(tmp_path / 'o2'), env=env)
  assert proc.returncode == 1
  [line] = proc.stderr.strip().splitlines()
  assert 'could not download' in line and '--data-dir' in line


def test_conflicting_flags_are_usage_errors(tmp_path):
  proc = run_local('--strategy', 'tpu', '--output-dir', str(tmp_path / 'o'))
  assert proc.returncode == 2
  assert proc.stderr.strip() == 'error: --strategy tpu needs --tpu NAME_OR_GRPC_ADDRESS'
  proc = run_local('--epochs', '0')
  assert proc.returncode == 2 and 'must be >= 1' in proc.stderr
