"""Real MNIST as the Trainer reads it: GZIP TFRecords of tf.train.Example written from the IDX files
with the ExampleGen's own conversion (trainer_module.compare.write_records)."""
import pytest

from trainer_module.compare import write_records  # pylint: disable=unused-import  # for the tests


@pytest.fixture(scope='session')
def small_train_records(tmp_path_factory, mnist_dir) -> str:
  """The first 1,200 MNIST training examples, in order."""
  return write_records(mnist_dir, str(tmp_path_factory.mktemp('records') / 'train' / 'data.gz'),
                       count=1200)
