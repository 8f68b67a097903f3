"""Real MNIST as the Trainer reads it: GZIP TFRecords of tf.train.Example written from the IDX files
with the ExampleGen's own conversion (components.mnist_example_gen.write_records)."""

import pytest

from components.mnist_example_gen import write_records


@pytest.fixture(scope='session')
def small_train_records(tmp_path_factory, mnist_dir) -> str:
  """The first 1,200 MNIST training examples, in order."""
  return write_records(
    mnist_dir, str(tmp_path_factory.mktemp('records') / 'train' / 'data.gz'), count=1200
  )
