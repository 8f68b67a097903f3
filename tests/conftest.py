"""Shared fixtures: where the real MNIST files are, and how to make small IDX files."""
import gzip
import os
import shutil

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), 'shared')


def real_mnist_dir() -> str:
  path = os.environ.get('MNIST_DATA_DIR') or os.path.join(SHARED, 'mnist')
  if not os.path.exists(os.path.join(path, 'train-images-idx3-ubyte.gz')):
    pytest.fail(f'real MNIST not found at {path}: set MNIST_DATA_DIR to the folder with the four .gz files')
  return os.path.abspath(path)


@pytest.fixture(scope='session')
def mnist_dir() -> str:
  return real_mnist_dir()


@pytest.fixture
def mnist_copy(tmp_path, mnist_dir) -> str:
  """A writable copy of the real MNIST folder, to break on purpose."""
  target = tmp_path / 'mnist'
  target.mkdir()
  for name in os.listdir(mnist_dir):
    if name.endswith('.gz'):
      shutil.copyfile(os.path.join(mnist_dir, name), target / name)
  return str(target)


def idx_images(images: np.ndarray, magic: int = 2051, count=None, rows=None, cols=None) -> bytes:
  n, r, c = images.shape
  header = b''.join(int(v).to_bytes(4, 'big') for v in
                    (magic, n if count is None else count, r if rows is None else rows,
                     c if cols is None else cols))
  return header + images.astype(np.uint8).tobytes()


def idx_labels(labels: np.ndarray, magic: int = 2049, count=None) -> bytes:
  header = int(magic).to_bytes(4, 'big') + int(len(labels) if count is None else count).to_bytes(4, 'big')
  return header + labels.astype(np.uint8).tobytes()


def read_decompressed(path) -> bytes:
  with open(path, 'rb') as f:
    return gzip.decompress(f.read())
