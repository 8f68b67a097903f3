"""End to end: `local_runner.py --dataset …` in a subprocess with real TFX, Beam, TFDV,
TFMA and ML Metadata, on small real data: IDX sets cut from the real MNIST files, and the real
Fashion-MNIST files (Debian's dataset-fashion-mnist)."""

import dataclasses
import gzip
import json
import os
import re

import numpy as np
import pytest

from components.lib import datasets, download, idx
from inspection import runs
from pipeline import store as store_lib
from tests.conftest import idx_images, idx_labels, run_py

pytestmark = pytest.mark.slow


def _mnist_split(mnist_dir, prefix):
  split = idx.load_split(mnist_dir, prefix, validated=True)
  return split.images, split.labels


def write_idx_dir(folder, train, t10k) -> str:
  """The four IDX .gz files of an `idx` set: train and t10k are (images, labels)."""
  os.makedirs(folder, exist_ok=True)
  for prefix, (images, labels) in (('train', train), ('t10k', t10k)):
    with open(os.path.join(folder, f'{prefix}-images-idx3-ubyte.gz'), 'wb') as f:
      f.write(gzip.compress(idx_images(images)))
    with open(os.path.join(folder, f'{prefix}-labels-idx1-ubyte.gz'), 'wb') as f:
      f.write(gzip.compress(idx_labels(labels)))
  return str(folder)


def _stages(stdout):
  return set(re.findall(r'^(\w+)\s+[\d.]+ s', stdout, re.M))


def assert_trained_with_defaults(output_dir, dataset):
  """The run's recorded settings (ML Metadata, as `runs` reads them) hold each of the data set's
  training defaults (components/lib/datasets.py) and its bound: what the Trainer really trained
  with."""
  recorded = runs.latest_run(os.path.join(output_dir, 'metadata.sqlite')).settings
  expected = dataclasses.asdict(dataset.training_defaults)
  assert {k: recorded.get(k) for k in expected} == expected, recorded
  assert recorded['dataset'] == dataset.name


def test_idx_set_with_train_labels_0_to_4_stops_at_the_example_validator(tmp_path, mnist_dir):
  images, labels = _mnist_split(mnist_dir, 'train')
  low = labels < 5
  test_images, test_labels = _mnist_split(mnist_dir, 't10k')
  data = write_idx_dir(
    tmp_path / 'half',
    (images[low][:500], labels[low][:500]),
    (test_images[:200], test_labels[:200]),
  )
  output_dir = str(tmp_path / 'out')
  proc = run_py(
    'local_runner.py',
    '--dataset',
    'idx',
    '--data-dir',
    data,
    '--output-dir',
    output_dir,
    '--epochs',
    '1',
  )
  assert proc.returncode == 1, proc.stdout + proc.stderr
  [line] = proc.stderr.strip().splitlines()
  assert line.startswith('error: data validation: split eval vs train (skew'), line
  assert 'label' in line and 'Linfty' in line and '0.08' in line, line
  stages = _stages(proc.stdout)
  assert {'MnistExampleGen', 'StatisticsGen'} <= stages, proc.stdout
  assert not stages & {'Trainer', 'Evaluator', 'Pusher'}, proc.stdout
  assert not os.path.exists(os.path.join(output_dir, 'pipeline_root', 'Trainer', 'model'))
  assert not os.path.exists(os.path.join(output_dir, 'serving'))
  assert 'Traceback' not in proc.stdout + proc.stderr


def test_a_looser_label_drift_bound_lets_the_same_set_through_validation(tmp_path, mnist_dir):
  images, labels = _mnist_split(mnist_dir, 'train')
  low = labels < 5
  test_images, test_labels = _mnist_split(mnist_dir, 't10k')
  data = write_idx_dir(
    tmp_path / 'half',
    (images[low][:300], labels[low][:300]),
    (test_images[:100], test_labels[:100]),
  )
  output_dir = str(tmp_path / 'out')
  proc = run_py(
    'local_runner.py',
    '--dataset',
    'idx',
    '--data-dir',
    data,
    '--output-dir',
    output_dir,
    '--label-drift-bound',
    '0.5',
    '--accuracy-threshold',
    '0.01',
    '--batch-size',
    '64',
  )
  assert proc.returncode == 0, proc.stdout + proc.stderr
  assert {'ExampleValidator', 'Trainer', 'Pusher'} <= _stages(proc.stdout)
  assert_trained_with_defaults(output_dir, datasets.IDX)  # the digits' epochs and augmentation


def test_idx_set_of_27x28_images_stops_in_the_example_gen(tmp_path, mnist_dir):
  images, labels = _mnist_split(mnist_dir, 'train')
  test_images, test_labels = _mnist_split(mnist_dir, 't10k')
  data = write_idx_dir(
    tmp_path / 'narrow',
    (images[:300, 1:, :], labels[:300]),
    (test_images[:100, 1:, :], test_labels[:100]),
  )
  proc = run_py(
    'local_runner.py',
    '--dataset',
    'idx',
    '--data-dir',
    data,
    '--output-dir',
    str(tmp_path / 'out'),
    '--epochs',
    '1',
  )
  assert proc.returncode == 1, proc.stdout + proc.stderr
  assert proc.stderr.strip() == (
    'error: train-images-idx3-ubyte.gz: images are 27x28, expected 28x28'
  ), proc.stderr
  assert not _stages(proc.stdout) & {'StatisticsGen', 'ExampleValidator', 'Trainer'}, proc.stdout


@pytest.fixture(scope='module')
def fashion_run(tmp_path_factory):
  """A small real Fashion-MNIST run: the pinned files, 600/300 examples, bound 0.5, and
  Fashion-MNIST's own training defaults (its epochs and augmentation: mirrored, not moved)."""
  try:
    data = download.resolve_data_dir(None, dataset=datasets.FASHION_MNIST, mirrors=())
  except idx.MnistDataError as e:
    pytest.fail(
      f'the test needs the Fashion-MNIST files (apt-get install dataset-fashion-mnist): {e}'
    )
  output_dir = str(tmp_path_factory.mktemp('fashion') / 'D')
  proc = run_py(
    'local_runner.py',
    '--dataset',
    'fashion-mnist',
    '--data-dir',
    data,
    '--output-dir',
    output_dir,
    '--train-examples',
    '600',
    '--eval-examples',
    '300',
    '--seed',
    '1',
    '--accuracy-threshold',
    '0.5',
    '--batch-size',
    '64',
  )
  return data, output_dir, proc


def test_fashion_mnist_run_is_blessed_and_names_its_data(fashion_run):
  _, output_dir, proc = fashion_run
  assert proc.returncode == 0, proc.stdout + proc.stderr
  assert re.search(r'^MnistExampleGen\s+[\d.]+ s \(train 600, eval 300\)$', proc.stdout, re.M)
  # The data set's defaults reach the Trainer: flips, no digit augmentation (MNIST's plan ends
  # 'augmented: …').
  epochs = datasets.FASHION_MNIST.training_defaults.epochs
  assert re.search(
    rf'^Trainer: 550 examples \(50 held out for validation\), {epochs} epochs, '
    r'(mixed_bfloat16|float32) \(--precision auto\), mirrored left/right at random$',
    proc.stdout,
    re.M,
  ), proc.stdout
  assert_trained_with_defaults(output_dir, datasets.FASHION_MNIST)
  assert {'StatisticsGen', 'ExampleValidator', 'SchemaGen', 'Trainer', 'Pusher'} <= _stages(
    proc.stdout
  )
  store = store_lib.open_store(
    store_lib.sqlite_config(os.path.join(output_dir, 'metadata.sqlite'), True)
  )
  [examples] = store.get_artifacts_by_type('Examples')
  props = {k: v.string_value or v.int_value for k, v in examples.custom_properties.items()}
  assert props['dataset'] == 'fashion-mnist'
  assert json.loads(props['class_names'])[9] == 'Ankle boot'
  for spec in datasets.FASHION_MNIST.all_files:
    key = 'sha256_' + '_'.join(spec.name.split('-')[:2])
    assert props[key] == spec.sha256
  # The lineage CLI walks from the pushed version to these Examples and their digests.
  [version] = [n for n in os.listdir(os.path.join(output_dir, 'serving')) if n.isdigit()]
  lineage = run_py('-m', 'inspection', '--output-dir', output_dir, 'lineage', version)
  assert lineage.returncode == 0, lineage.stderr
  assert datasets.FASHION_MNIST.files['train'][0].sha256 in lineage.stdout


def test_predict_answers_with_fashion_class_names(fashion_run, tmp_path):
  data, output_dir, proc = fashion_run
  assert proc.returncode == 0, proc.stdout + proc.stderr
  split = idx.load_split(data, 't10k', validated=True, dataset=datasets.FASHION_MNIST)
  npy = str(tmp_path / 'items.npy')
  np.save(npy, split.images[:4].astype(np.float32) / 255.0)
  answer = run_py('-m', 'predict', '--output-dir', output_dir, npy)
  assert answer.returncode == 0, answer.stdout + answer.stderr
  names = datasets.FASHION_MNIST.class_names
  lines = answer.stdout.strip().splitlines()
  assert len(lines) == 4
  for i, line in enumerate(lines):
    match = re.fullmatch(rf'{re.escape(npy)}\[{i}\]: (\d) (.+) \(p=[\d.]+\)', line)
    assert match, line
    assert match.group(2) == names[int(match.group(1))]
  as_json = json.loads(run_py('-m', 'predict', '--output-dir', output_dir, '--json', npy).stdout)
  assert all(p['class_name'] == names[p['class']] for p in as_json['predictions'])


def test_the_report_shows_the_data_statistics(fashion_run):
  _, output_dir, proc = fashion_run
  assert proc.returncode == 0, proc.stdout + proc.stderr
  report = re.search(r'^Report:\s+(\S+)$', proc.stdout, re.M).group(1)
  with open(report) as f:
    html = f.read()
  assert 'Data statistics' in html
  assert 'Ankle boot' in html  # per-class rows and mean images carry the class names
  assert 'Anomalies' in html and 'none' in html
  assert html.count('<svg') >= 2  # label distribution and pixel histogram


def test_the_summary_offers_fashion_items_to_try(fashion_run, tmp_path):
  """The summary's "Try it" feeds the model the run's own eval items, not digits, and runs as
  printed from another directory: its answers are Fashion-MNIST class names."""
  import subprocess

  _, _, proc = fashion_run
  assert proc.returncode == 0, proc.stdout + proc.stderr
  command, true = re.search(r'^Try it:\s+(.+?)  # true: (.+)$', proc.stdout, re.M).groups()
  assert all(name in datasets.FASHION_MNIST.class_names for name in true.split(', '))
  answer = subprocess.run(
    ['sh', '-c', command], cwd=str(tmp_path), capture_output=True, text=True, timeout=300
  )
  assert answer.returncode == 0, answer.stderr
  names = [
    line.rsplit(' (p=', 1)[0].split(': ', 1)[1].split(' ', 1)[1]
    for line in answer.stdout.splitlines()
  ]
  assert len(names) == 5 and all(name in datasets.FASHION_MNIST.class_names for name in names)
