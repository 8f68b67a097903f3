"""MnistExampleGen run for real (LocalDagRunner, Beam, ML Metadata in SQLite) on real MNIST."""

import glob
import os

import numpy as np
import tensorflow as tf
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx

from components.lib import idx
from components.mnist_example_gen import create_example_gen, sha256_property


def _run(tmp_path, data_dir, **limits):
  root = str(tmp_path / 'root')
  db = str(tmp_path / 'metadata.sqlite')
  pipeline = tfx.dsl.Pipeline(
    pipeline_name='example-gen-test',
    pipeline_root=root,
    components=[create_example_gen(data_dir, **limits)],
    metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(db),
  )
  error = None
  try:
    tfx.orchestration.LocalDagRunner().run(pipeline)
  except Exception as e:  # noqa: BLE001
    error = e
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = db
  store = metadata_store.MetadataStore(config)
  return store, store.get_artifacts_by_type('Examples'), error


def _read(uri, split):
  files = sorted(glob.glob(os.path.join(uri, f'Split-{split}', '*')))  # as the Trainer reads them
  assert files, f'no output for split {split}'
  records = [
    tf.train.Example.FromString(r.numpy())
    for r in tf.data.TFRecordDataset(files, compression_type='GZIP')
  ]
  images = np.stack(
    [np.frombuffer(e.features.feature['image'].bytes_list.value[0], np.uint8) for e in records]
  )
  labels = np.array([e.features.feature['label'].int64_list.value[0] for e in records])
  return images, labels


def test_canonical_splits_with_digests_on_the_artifact(tmp_path, mnist_dir):
  store, artifacts, error = _run(tmp_path, mnist_dir, train_examples=300, eval_examples=200)
  assert error is None
  [examples] = artifacts
  assert examples.state == metadata_store_pb2.Artifact.LIVE
  props = {k: v.string_value or v.int_value for k, v in examples.custom_properties.items()}
  for spec in idx.ALL_FILES:
    assert props[sha256_property(spec.name)] == spec.sha256
  assert props['sha256_train_images'].startswith('ba891046')
  assert props['train_examples'] == 300 and props['eval_examples'] == 200
  assert '"train"' in examples.properties['split_names'].string_value

  train_images, train_labels = _read(examples.uri, 'train')
  eval_images, eval_labels = _read(examples.uri, 'eval')
  assert len(train_labels) == 300 and len(eval_labels) == 200
  assert train_images.shape[1] == 784  # raw uint8 bytes
  # The canonical split: train = the first N of the training set, eval = of the test set.
  train = idx.load_split(mnist_dir, 'train')
  test = idx.load_split(mnist_dir, 't10k')
  expected = {
    img.tobytes(): int(lab) for img, lab in zip(train.images[:300], train.labels[:300], strict=True)
  }
  assert {
    img.tobytes(): int(lab) for img, lab in zip(train_images, train_labels, strict=True)
  } == expected
  assert sorted(eval_labels) == sorted(int(x) for x in test.labels[:200])


def test_bad_file_fails_the_component_and_publishes_nothing(tmp_path, mnist_copy):
  path = os.path.join(mnist_copy, 't10k-images-idx3-ubyte.gz')
  with open(path, 'wb') as f:
    f.write(b'garbage')
  _, artifacts, error = _run(tmp_path, mnist_copy, train_examples=100, eval_examples=100)
  assert isinstance(error, idx.MnistDataError)
  assert str(error).startswith('t10k-images-idx3-ubyte.gz: not a readable gzip file')
  assert not [a for a in artifacts if a.state == metadata_store_pb2.Artifact.LIVE]


def test_chunks_cover_every_example_once():
  from components.mnist_example_gen import chunks

  assert chunks(25000, 10000) == [(0, 10000), (10000, 20000), (20000, 25000)]
  assert chunks(300, size=64) == [(0, 64), (64, 128), (128, 192), (192, 256), (256, 300)]
  assert chunks(0, 10000) == []


def test_a_split_in_many_chunks_is_written_whole_and_once(tmp_path, mnist_dir, monkeypatch):
  """Beam hands out chunks of the IDX arrays (no per-record reshuffle); each is written whole to
  its own numbered file, so the files read in name order hold the first N examples in MNIST's
  order, every one exactly once, whatever order the chunks were written in."""
  from components import mnist_example_gen

  monkeypatch.setattr(mnist_example_gen, 'CHUNK_EXAMPLES', 64)
  store, [examples], error = _run(tmp_path, mnist_dir, train_examples=300, eval_examples=130)
  assert error is None
  assert sorted(os.listdir(os.path.join(examples.uri, 'Split-train'))) == [
    f'data_tfrecord-{i:05d}-of-00005.gz' for i in range(5)
  ]  # 300 = 4 x 64 + 44
  train_images, train_labels = _read(examples.uri, 'train')
  train = idx.load_split(mnist_dir, 'train', validated=True)
  np.testing.assert_array_equal(train_images, train.images[:300].reshape(300, -1))
  np.testing.assert_array_equal(train_labels, train.labels[:300])
  _, eval_labels = _read(examples.uri, 'eval')
  assert len(eval_labels) == 130
  assert len(os.listdir(os.path.join(examples.uri, 'Split-eval'))) == 3
  # What TFX's own ExampleGen records of its output, which its readers (tfx_bsl) go by.
  assert examples.custom_properties['payload_format'].string_value == 'FORMAT_TF_EXAMPLE'
  assert examples.custom_properties['file_format'].string_value == 'tfrecords_gzip'
  assert examples.properties['split_names'].string_value == '["train", "eval"]'
  del store
