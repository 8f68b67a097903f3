"""Real MNIST as the Trainer reads it: GZIP TFRecords of tf.train.Example written from the IDX files
by the ExampleGen's own conversion (components/mnist_example_gen._to_example)."""
import os

import pytest


def write_records(mnist_dir: str, path: str, prefix: str = 'train', start: int = 0,
                  count: int = 1000) -> str:
  """Examples [start, start + count) of one MNIST split, in order, as one GZIP TFRecord file."""
  import tensorflow as tf
  from components import mnist_data
  from components.mnist_example_gen import _to_example
  split = mnist_data.load_split(mnist_dir, prefix)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with tf.io.TFRecordWriter(path, options='GZIP') as writer:
    for i in range(start, start + count):
      writer.write(_to_example(split.images[i], split.labels[i]).SerializeToString())
  return path


@pytest.fixture(scope='session')
def small_train_records(tmp_path_factory, mnist_dir) -> str:
  """The first 1,200 MNIST training examples."""
  return write_records(mnist_dir, str(tmp_path_factory.mktemp('records') / 'train' / 'data.gz'),
                       count=1200)
