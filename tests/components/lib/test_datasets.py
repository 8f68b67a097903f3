"""--dataset: the facts of each data set in one place, where each is found, how each is checked.
Real files: MNIST (MNIST_DATA_DIR / the cache) and Fashion-MNIST (Debian's
dataset-fashion-mnist)."""

import argparse
import gzip
import os
import shutil

import numpy as np
import pytest

from components import mnist_example_gen
from components.lib import datasets, download, idx
from pipeline import config as config_lib
from pipeline import flags
from tests.conftest import idx_images, idx_labels


@pytest.fixture(scope='module')
def fashion_dir() -> str:
  try:
    data_dir = download.resolve_data_dir(None, env={}, dataset=datasets.FASHION_MNIST, mirrors=())
  except idx.MnistDataError as e:
    pytest.fail(
      f'the tests need the Fashion-MNIST files (apt-get install dataset-fashion-mnist): {e}'
    )
  return data_dir


def test_each_data_set_has_its_facts():
  assert datasets.get(None) is datasets.MNIST and datasets.get('mnist') is datasets.MNIST
  assert set(datasets.DATASETS) == {'mnist', 'fashion-mnist', 'idx', 'images', 'csv'}
  for dataset in (datasets.MNIST, datasets.FASHION_MNIST, datasets.IDX):
    assert len(dataset.class_names) == 10 and not dataset.classes_from_data
    assert [f.name for f in dataset.all_files] == [f.name for f in datasets.MNIST.all_files]
  for dataset in (datasets.IMAGES, datasets.CSV):  # their classes are the data's
    assert dataset.class_names == () and dataset.classes_from_data and not dataset.all_files
    assert not dataset.pinned and not dataset.mirrors
  assert datasets.MNIST.pinned and datasets.FASHION_MNIST.pinned and not datasets.IDX.pinned
  assert datasets.FASHION_MNIST.class_names[9] == 'Ankle boot'
  assert datasets.FASHION_MNIST.default_accuracy_threshold == 0.85
  assert idx.ALL_FILES == datasets.MNIST.all_files  # the old names still mean MNIST
  with pytest.raises(
    ValueError,
    match="unknown dataset 'cifar'; expected one of mnist, fashion-mnist, idx, images, csv",
  ):
    datasets.get('cifar')


def test_fashion_mnist_files_are_the_pinned_ones(fashion_dir):
  digests = idx.validate_dir(fashion_dir, datasets.FASHION_MNIST)
  assert digests == {f.name: f.sha256 for f in datasets.FASHION_MNIST.all_files}
  # The same files are refused as MNIST, with the data set named.
  with pytest.raises(
    idx.MnistDataError,
    match=r'^train-images-idx3-ubyte.gz: SHA-256 .* \(not the canonical MNIST file\)$',
  ):
    idx.validate_dir(fashion_dir)


def _write_idx(folder, images, labels, test_images, test_labels):
  os.makedirs(folder, exist_ok=True)
  for prefix, (im, lab) in (('train', (images, labels)), ('t10k', (test_images, test_labels))):
    with open(os.path.join(folder, f'{prefix}-images-idx3-ubyte.gz'), 'wb') as f:
      f.write(gzip.compress(idx_images(im)))
    with open(os.path.join(folder, f'{prefix}-labels-idx1-ubyte.gz'), 'wb') as f:
      f.write(gzip.compress(idx_labels(lab)))
  return str(folder)


def test_idx_has_every_format_check_but_no_digest_pin(tmp_path, mnist_dir):
  train = idx.load_split(mnist_dir, 'train', validated=True)
  test = idx.load_split(mnist_dir, 't10k', validated=True)
  folder = _write_idx(
    tmp_path / 'own', train.images[:50], train.labels[:50], test.images[:20], test.labels[:20]
  )
  splits = idx.validate_splits(folder, datasets.IDX)
  assert len(splits['train'].labels) == 50 and len(splits['t10k'].labels) == 20
  with pytest.raises(idx.MnistDataError, match='not the canonical MNIST file'):
    idx.validate_dir(folder)
  bad_labels = test.labels[:20].copy()
  bad_labels[3] = 10
  folder = _write_idx(
    tmp_path / 'eleven', train.images[:50], train.labels[:50], test.images[:20], bad_labels
  )
  with pytest.raises(
    idx.MnistDataError, match='^t10k-labels-idx1-ubyte.gz: label 10 at index 3 is outside 0-9$'
  ):
    idx.validate_dir(folder, datasets.IDX)
  folder = _write_idx(
    tmp_path / 'narrow',
    train.images[:50, :, 1:],
    train.labels[:50],
    test.images[:20, :, 1:],
    test.labels[:20],
  )
  with pytest.raises(idx.MnistDataError, match='images are 28x27, expected 28x28'):
    idx.validate_dir(folder, datasets.IDX)


def test_where_fashion_mnist_is_found(tmp_path, fashion_dir):
  system = str(tmp_path / 'system')
  shutil.copytree(fashion_dir, system)
  explicit, from_env = tmp_path / 'explicit', tmp_path / 'env'
  explicit.mkdir()
  from_env.mkdir()

  def resolve(data_dir=None, env=None):
    return download.resolve_data_dir(
      data_dir,
      env=env or {},
      dataset=datasets.FASHION_MNIST,
      system_dirs=[str(tmp_path / 'nothing'), system],
      cache_dir=str(tmp_path / 'cache'),
      mirrors=(),
    )

  assert resolve(str(explicit), {'FASHION_MNIST_DATA_DIR': str(from_env)}) == str(explicit)
  assert resolve(None, {'FASHION_MNIST_DATA_DIR': str(from_env)}) == str(from_env)
  # MNIST's variable names MNIST's files, not Fashion-MNIST's.
  assert resolve(None, {'MNIST_DATA_DIR': str(from_env)}) == system
  os.remove(os.path.join(system, 't10k-labels-idx1-ubyte.gz'))  # incomplete: not used
  with pytest.raises(idx.MnistDataError, match='could not download a valid copy'):
    resolve()


def test_fashion_mnist_download_checks_the_pinned_digests(tmp_path, fashion_dir):
  """The download path with its real checks; only the network is replaced (no network here)."""
  asked = []

  def fetch(url, timeout, deadline):
    asked.append(url)
    with open(os.path.join(fashion_dir, url.rsplit('/', 1)[-1]), 'rb') as f:
      return f.read()

  cache = str(tmp_path / 'cache')
  assert download.download(cache, fetch=fetch, dataset=datasets.FASHION_MNIST) == cache
  assert asked == [
    datasets.FASHION_MNIST.mirrors[0] + f.name for f in datasets.FASHION_MNIST.all_files
  ]
  assert sorted(os.listdir(cache)) == sorted(f.name for f in datasets.FASHION_MNIST.all_files)
  # The same bytes offered as MNIST are not kept.
  with pytest.raises(idx.MnistDataError, match='does not match'):
    download.download(str(tmp_path / 'mnist'), fetch=fetch, mirrors=['http://m/'], retries=1)
  assert download.default_cache_dir({'XDG_CACHE_HOME': '/c'}) == '/c/mnist-tfx'


def test_idx_is_never_downloaded(tmp_path):
  with pytest.raises(idx.MnistDataError, match='--dataset idx has no download .*pass --data-dir'):
    download.resolve_data_dir(
      None,
      env={'MNIST_DATA_DIR': str(tmp_path)},
      dataset=datasets.IDX,
      cache_dir=str(tmp_path / 'cache'),
    )


def test_image_stats_per_split():
  images = np.zeros((4, 28, 28), np.uint8)
  images[0, 0, 0] = 255
  images[1] = 8
  labels = np.array([0, 0, 3, 9])
  stats = mnist_example_gen.image_stats(images, labels)
  assert stats['examples'] == 4 and stats['label_counts'] == [2, 0, 0, 1, 0, 0, 0, 0, 0, 1]
  assert stats['mean_images'][1] is None
  assert stats['mean_images'][0][0] == 131.5 and stats['mean_images'][0][1] == 4.0
  assert len(stats['pixel_histogram']) == mnist_example_gen.HISTOGRAM_BINS
  assert stats['pixel_histogram'][0] == 4 * 784 - 784 - 1 and stats['pixel_histogram'][1] == 784
  assert stats['pixel_histogram'][-1] == 1


def _parse(*argv):
  parser = argparse.ArgumentParser()
  flags.add_arguments(parser)
  return parser.parse_args(list(argv))


def _config(*argv):
  return config_lib.config_from_args(_parse(*argv), '/data', '/root', '/serving')


def test_dataset_flags_reach_the_config_and_the_pipeline():
  from pipeline.pipeline import create_components

  config = _config()
  assert (config.dataset, config.accuracy_threshold, config.label_drift_bound) == (
    'mnist',
    0.99,
    0.08,
  )
  config = _config('--dataset', 'fashion-mnist', '--label-drift-bound', '0.2')
  assert (config.dataset, config.accuracy_threshold, config.label_drift_bound) == (
    'fashion-mnist',
    0.85,
    0.2,
  )
  assert (
    _config('--dataset', 'fashion-mnist', '--accuracy-threshold', '0.9').accuracy_threshold == 0.9
  )
  assert _config('--dataset', 'idx').accuracy_threshold == datasets.IDX.default_accuracy_threshold
  components = {c.id: c for c in create_components(config)}
  assert ['ImportSchemaGen', 'StatisticsGen', 'SchemaGen', 'ExampleValidator'] == [
    c
    for c in components
    if c in ('ImportSchemaGen', 'StatisticsGen', 'SchemaGen', 'ExampleValidator')
  ]
  assert components['ExampleValidator'].exec_properties['label_drift_bound'] == 0.2
  assert components['ExampleValidator'] in components['Trainer'].upstream_nodes
  assert (
    mnist_example_gen.dataset_of(components['MnistExampleGen'].exec_properties)
    is datasets.FASHION_MNIST
  )


@pytest.mark.parametrize(
  'argv',
  [
    ['--dataset', 'cifar'],
    ['--label-drift-bound', '0'],
    ['--label-drift-bound', '1.5'],
    ['--label-drift-bound', 'x'],
  ],
)
def test_bad_dataset_flags_are_usage_errors(argv, capsys):
  with pytest.raises(SystemExit) as info:
    _parse(*argv)
  assert info.value.code == 2
