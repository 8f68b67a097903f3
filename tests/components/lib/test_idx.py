"""IDX parsing and every bad-input case of the MNIST files, on tiny and real files."""

import gzip
import os

import numpy as np
import pytest

from components.lib import datasets, download, idx
from components.lib.idx import MnistDataError
from tests.conftest import idx_images, idx_labels, read_decompressed

TRAIN_IMAGES = 'train-images-idx3-ubyte.gz'
TRAIN_LABELS = 'train-labels-idx1-ubyte.gz'
T10K_LABELS = 't10k-labels-idx1-ubyte.gz'


def test_real_files_validate_with_canonical_digests(mnist_dir):
  digests = idx.validate_dir(mnist_dir)
  assert digests[TRAIN_IMAGES].startswith('ba891046')
  assert set(digests) == {f.name for f in idx.ALL_FILES}
  train = idx.load_split(mnist_dir, 'train')
  test = idx.load_split(mnist_dir, 't10k')
  assert train.images.shape == (60000, 28, 28) and train.images.dtype == np.uint8
  assert test.labels.shape == (10000,)
  # Known first labels of the canonical files.
  assert list(train.labels[:5]) == [5, 0, 4, 1, 9]
  assert list(test.labels[:5]) == [7, 2, 1, 0, 4]


def _spec(magic=2051):
  return datasets.IdxFile('x.gz', magic, 3, '0' * 64)


def test_parse_idx_images_and_labels():
  images = np.arange(3 * 28 * 28, dtype=np.uint64).reshape(3, 28, 28) % 256
  parsed = idx.parse_idx('x.gz', idx_images(images), _spec())
  np.testing.assert_array_equal(parsed, images)
  labels = idx.parse_idx('y.gz', idx_labels(np.array([1, 2, 3])), _spec(2049))
  assert list(labels) == [1, 2, 3]


@pytest.mark.parametrize(
  'data, spec, message',
  [
    (idx_images(np.zeros((3, 28, 28))), _spec(2049), 'bad magic number 2051, expected 2049'),
    (idx_labels(np.zeros(3)), _spec(2051), 'bad magic number 2049, expected 2051'),
    (idx_images(np.zeros((3, 28, 27))), _spec(), 'images are 28x27, expected 28x28'),
    (idx_images(np.zeros((3, 28, 28)), count=4), _spec(), 'does not match its header'),
    (idx_images(np.zeros((3, 28, 28)))[:-1], _spec(), 'does not match its header'),
    (idx_labels(np.zeros(3), count=2), _spec(2049), 'does not match its header'),
    (b'\x00\x00', _spec(), 'truncated IDX header'),
  ],
)
def test_parse_idx_rejects(data, spec, message):
  with pytest.raises(MnistDataError, match=message):
    idx.parse_idx('x.gz', data, spec)


def _break(folder, name, data: bytes, compress=True):
  path = os.path.join(folder, name)
  os.chmod(path, 0o644)
  with open(path, 'wb') as f:
    f.write(gzip.compress(data, compresslevel=1) if compress else data)


def _expect(folder, match):
  with pytest.raises(MnistDataError, match=match) as info:
    idx.validate_dir(folder)
  message = str(info.value)
  assert '\n' not in message
  return message


def test_not_gzip(mnist_copy):
  _break(mnist_copy, TRAIN_LABELS, b'this is not gzip', compress=False)
  assert _expect(mnist_copy, 'not a readable gzip file').startswith(TRAIN_LABELS)


def test_truncated_gzip(mnist_copy):
  path = os.path.join(mnist_copy, TRAIN_IMAGES)
  with open(path, 'rb') as f:
    raw = f.read()
  _break(mnist_copy, TRAIN_IMAGES, raw[: len(raw) // 2], compress=False)
  assert _expect(mnist_copy, 'not a readable gzip file').startswith(TRAIN_IMAGES)


def test_swapped_files_bad_magic(mnist_copy):
  labels = read_decompressed(os.path.join(mnist_copy, TRAIN_LABELS))
  _break(mnist_copy, TRAIN_IMAGES, labels)
  _expect(mnist_copy, f'{TRAIN_IMAGES}: bad magic number 2049, expected 2051')


def test_wrong_image_size(mnist_copy):
  _break(mnist_copy, TRAIN_IMAGES, idx_images(np.zeros((60000, 27, 29))))
  _expect(mnist_copy, f'{TRAIN_IMAGES}: images are 27x29, expected 28x28')


def test_size_does_not_match_header(mnist_copy):
  data = read_decompressed(os.path.join(mnist_copy, TRAIN_IMAGES))
  _break(mnist_copy, TRAIN_IMAGES, data[:-784])
  _expect(mnist_copy, f'{TRAIN_IMAGES}: size .* does not match its header')


def test_image_and_label_counts_disagree(mnist_copy):
  labels = read_decompressed(os.path.join(mnist_copy, TRAIN_LABELS))
  fewer = idx_labels(np.frombuffer(labels, np.uint8, offset=8)[:-1])
  _break(mnist_copy, TRAIN_LABELS, fewer)
  _expect(mnist_copy, f'{TRAIN_LABELS}: 59999 labels but {TRAIN_IMAGES} has 60000 images')


def test_label_out_of_range(mnist_copy):
  labels = bytearray(read_decompressed(os.path.join(mnist_copy, T10K_LABELS)))
  labels[8 + 92] = 12
  _break(mnist_copy, T10K_LABELS, bytes(labels))
  _expect(mnist_copy, f'{T10K_LABELS}: label 12 at index 92 is outside 0-9')


def test_digest_mismatch_on_a_changed_pixel(mnist_copy):
  images = bytearray(read_decompressed(os.path.join(mnist_copy, TRAIN_IMAGES)))
  images[16 + 1000] ^= 0xFF  # structurally valid, not canonical
  _break(mnist_copy, TRAIN_IMAGES, bytes(images))
  message = _expect(mnist_copy, f'{TRAIN_IMAGES}: SHA-256 of the decompressed file is')
  assert 'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db' in message


def test_regzipped_file_is_still_accepted(mnist_copy):
  """Digests are of the decompressed bytes: another gzip wrapping of the same data is fine."""
  data = read_decompressed(os.path.join(mnist_copy, TRAIN_LABELS))
  _break(mnist_copy, TRAIN_LABELS, gzip.compress(data, compresslevel=1), compress=False)
  idx.validate_dir(mnist_copy)


def test_missing_file(mnist_copy):
  os.remove(os.path.join(mnist_copy, T10K_LABELS))
  _expect(mnist_copy, f'{T10K_LABELS}: missing from')


def test_resolve_data_dir_prefers_flag_then_env(tmp_path, mnist_dir):
  other = tmp_path / 'other'
  other.mkdir()
  assert download.resolve_data_dir(str(other), env={'MNIST_DATA_DIR': mnist_dir}) == str(other)
  assert download.resolve_data_dir(None, env={'MNIST_DATA_DIR': mnist_dir}) == mnist_dir
  with pytest.raises(MnistDataError, match='data directory does not exist'):
    download.resolve_data_dir(str(tmp_path / 'nope'), env={})
