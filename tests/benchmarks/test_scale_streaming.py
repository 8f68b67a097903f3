"""What lets the pipeline scale: the IDX files read as a stream, chunk by chunk, with every check
load_split makes and memory bounded by one chunk (idx.read_chunks / check_split), and the
ExampleGen's statistics gathered chunk by chunk (ImageStats)."""

import gzip
import tracemalloc

import numpy as np
import pytest

from components.lib import datasets, idx
from tests.conftest import idx_images, idx_labels


def write_split(folder, prefix: str, images: np.ndarray, labels: np.ndarray, **broken) -> None:
  with gzip.open(folder / f'{prefix}-images-idx3-ubyte.gz', 'wb', compresslevel=1) as f:
    f.write(idx_images(images, count=broken.get('image_count')))
  with gzip.open(folder / f'{prefix}-labels-idx1-ubyte.gz', 'wb', compresslevel=1) as f:
    f.write(idx_labels(labels) + broken.get('label_tail', b''))


def tiny_set(folder, n: int = 250, seed: int = 0, **broken):
  rng = np.random.default_rng(seed)
  images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
  labels = rng.integers(0, 10, n).astype(np.uint8)
  write_split(folder, 'train', images, labels, **broken)
  write_split(folder, 't10k', images[:20], labels[:20])
  return images, labels


def test_chunks_are_the_split_in_order_with_the_same_digests(tmp_path):
  images, labels = tiny_set(tmp_path)
  digests = {}
  got = list(idx.read_chunks(str(tmp_path), 'train', 64, dataset=datasets.IDX, digests=digests))
  assert [len(lab) for _, lab in got] == [64, 64, 64, 58]
  np.testing.assert_array_equal(np.concatenate([i for i, _ in got]), images)
  np.testing.assert_array_equal(np.concatenate([lab for _, lab in got]), labels)
  whole = idx.load_split(str(tmp_path), 'train', dataset=datasets.IDX)
  assert digests == whole.sha256
  check = idx.check_split(str(tmp_path), 'train', datasets.IDX, chunk=100)
  assert check.count == 250 and check.sha256 == whole.sha256


def test_a_limit_reads_only_the_first_examples(tmp_path):
  images, _ = tiny_set(tmp_path)
  got = list(idx.read_chunks(str(tmp_path), 'train', 64, limit=70, dataset=datasets.IDX))
  assert [len(lab) for _, lab in got] == [64, 6]
  np.testing.assert_array_equal(np.concatenate([i for i, _ in got]), images[:70])


def test_a_streamed_check_names_the_same_problems_as_load_split(tmp_path):
  _, labels = tiny_set(tmp_path, label_tail=b'\x00')
  with pytest.raises(
    idx.MnistDataError, match='size more than 258 bytes does not match its header'
  ):
    idx.check_split(str(tmp_path), 'train', datasets.IDX, chunk=64)
  bad = labels.copy()
  bad[200] = 12
  write_split(tmp_path, 'train', np.zeros((250, 28, 28), np.uint8), bad)
  with pytest.raises(idx.MnistDataError, match='label 12 at index 200 is outside 0-9'):
    idx.check_split(str(tmp_path), 'train', datasets.IDX, chunk=64)
  write_split(tmp_path, 'train', np.zeros((250, 28, 28), np.uint8), labels, image_count=300)
  with pytest.raises(idx.MnistDataError, match='250 labels but train-images-idx3-ubyte.gz has 300'):
    idx.check_split(str(tmp_path), 'train', datasets.IDX, chunk=64)


def test_a_pinned_digest_is_checked_by_the_streamed_check(tmp_path):
  tiny_set(tmp_path)  # not MNIST's bytes
  with pytest.raises(idx.MnistDataError, match='not the canonical MNIST file'):
    idx.check_split(str(tmp_path), 't10k', datasets.MNIST)


def test_memory_is_one_chunk_not_the_split(tmp_path):
  tiny_set(tmp_path, n=20000)  # 15.7 MB of pixels
  tracemalloc.start()
  try:
    count = idx.check_split(str(tmp_path), 'train', datasets.IDX, chunk=500).count
    _, peak = tracemalloc.get_traced_memory()
  finally:
    tracemalloc.stop()
  assert count == 20000
  assert peak < 2_000_000, peak  # a chunk is 392 kB; the split 15.7 MB


def test_image_stats_gathered_chunk_by_chunk_equal_the_whole_splits():
  from components.mnist_example_gen import ImageStats, image_stats

  rng = np.random.default_rng(3)
  images = rng.integers(0, 256, (300, 28, 28), dtype=np.uint8)
  labels = rng.integers(0, 9, 300)  # class 9 absent
  stats = ImageStats()
  for start in range(0, 300, 70):
    stats.add(images[start : start + 70], labels[start : start + 70])
  assert stats.result() == image_stats(images, labels)
  assert stats.result()['mean_images'][9] is None
