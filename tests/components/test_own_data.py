"""The ExampleGen on data sets that bring their own classes, run for real (LocalDagRunner, Beam,
ML Metadata in SQLite): scikit-learn's digits as PNG class folders and MNIST's test set as
Kaggle-layout CSVs; a folder of new pictures; a bad picture failing the component with nothing
published; the schema's label domain and the Trainer's class names taken from the Examples."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx
from tfx.types import standard_artifacts

from components import data_validation, mnist_trainer
from components.lib import artifact_files, idx, names
from components.mnist_example_gen import create_example_gen
from tests import own_data


def _run(root, components):
  db = str(root / 'metadata.sqlite')
  pipeline = tfx.dsl.Pipeline(
    pipeline_name='own-data-test',
    pipeline_root=str(root / 'root'),
    components=components,
    metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(db),
  )
  error = None
  try:
    tfx.orchestration.LocalDagRunner().run(pipeline)
  except Exception as e:  # noqa: BLE001  # the test looks at it
    error = e
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = db
  return metadata_store.MetadataStore(config), error


def _props(artifact):
  return {k: v.string_value or v.int_value for k, v in artifact.custom_properties.items()}


def _records(uri, split):
  files = sorted(tf.io.gfile.glob(f'{uri}/Split-{split}/*'))
  return [
    tf.train.Example.FromString(r.numpy())
    for r in tf.data.TFRecordDataset(files, compression_type='GZIP')
  ]


@pytest.fixture(scope='module')
def digits(tmp_path_factory):
  root = tmp_path_factory.mktemp('digits')
  counts = own_data.sklearn_digits(str(root / 'data'))
  examples = create_example_gen(str(root / 'data'), dataset='images')
  validation = data_validation.create_validation(
    examples.outputs['examples'], classes_from_data=True
  )
  store, error = _run(root, [examples, *validation])
  return root, counts, store, error


def test_picture_folders_become_examples_with_their_classes_and_manifest(digits):
  root, counts, store, error = digits
  assert error is None, error
  [examples] = store.get_artifacts_by_type('Examples')
  props = _props(examples)
  words = sorted(own_data.DIGIT_WORDS)
  assert json.loads(props[names.CLASS_NAMES]) == words and props['dataset'] == 'images'
  assert (props['train_examples'], props['eval_examples']) == (counts['train'], counts['test'])
  manifest = artifact_files.read_text(os.path.join(examples.uri, names.MANIFEST_FILE))
  assert props[names.MANIFEST_SHA256] == own_data.sha256_text(manifest)
  lines = manifest.splitlines()
  assert lines[0] == 'path,class,split,size,sha256' and len(lines) == 1 + sum(counts.values())
  path, name, split, size, _ = lines[1].split(',')
  assert path.split('/')[1] == name and size == str(os.path.getsize(root / 'data' / path))
  records = _records(examples.uri, 'eval')
  assert len(records) == counts['test'] and set(records[0].features.feature) == {'image', 'label'}
  labels = [r.features.feature['label'].int64_list.value[0] for r in records]
  assert set(labels) == set(range(10))
  stats = artifact_files.read_image_stats(examples.uri)
  assert stats[names.CLASS_NAMES] == words and len(stats['splits']['eval']['label_counts']) == 10


def test_the_schema_takes_the_label_domain_of_the_data(digits):
  _, _, store, error = digits
  assert error is None, error  # the ExampleValidator passed
  [schema] = [s for s in store.get_artifacts_by_type('Schema') if '/ImportSchemaGen/' in s.uri]
  loaded = data_validation.load_schema(os.path.join(schema.uri, 'schema.pbtxt'))
  [label] = [f for f in loaded.feature if f.name == 'label']
  assert (label.int_domain.min, label.int_domain.max) == (0, 9)
  three = data_validation.with_classes(loaded, 3)
  assert [f.int_domain.max for f in three.feature if f.name == 'label'] == [2]


def test_the_trainer_is_given_the_data_classes_and_mnist_none(digits):
  _, _, store, _ = digits
  [recorded] = store.get_artifacts_by_type('Examples')
  examples = standard_artifacts.Examples()
  examples.set_mlmd_artifact(recorded)
  words = sorted(own_data.DIGIT_WORDS)
  assert artifact_files.data_class_names(examples) == words
  config = json.loads(mnist_trainer.with_class_names('{"seed": 1}', words))
  assert config == {'seed': 1, 'class_names': words}
  mnist = standard_artifacts.Examples()
  mnist.set_string_custom_property(names.DATASET, 'fashion-mnist')
  mnist.set_string_custom_property(names.CLASS_NAMES, json.dumps(['T-shirt/top'] * 10))
  assert artifact_files.data_class_names(mnist) is None  # the IDX sets train as before
  assert mnist_trainer.with_class_names('{"seed": 1}', None) == '{"seed": 1}'


def test_a_csv_of_mnist_becomes_examples(tmp_path, mnist_dir):
  own_data.mnist_csv(str(tmp_path / 'csv'), mnist_dir, train=300)
  with open(tmp_path / 'csv' / 'test.csv') as f:  # 300 rows of test.csv are plenty here
    head = [next(f) for _ in range(301)]
  (tmp_path / 'csv' / 'test.csv').write_text(''.join(head))
  store, error = _run(tmp_path, [create_example_gen(str(tmp_path / 'csv'), 200, dataset='csv')])
  assert error is None, error
  [examples] = store.get_artifacts_by_type('Examples')
  props = _props(examples)
  assert (props['train_examples'], props['eval_examples']) == (200, 300)
  assert json.loads(props[names.CLASS_NAMES]) == [str(i) for i in range(10)]
  assert props['sha256_train_csv'] == own_data.sha256_file(tmp_path / 'csv' / 'train.csv')
  test = idx.load_split(mnist_dir, 't10k', validated=True)
  records = _records(examples.uri, 'train')
  first = np.frombuffer(records[0].features.feature['image'].bytes_list.value[0], np.uint8)
  assert np.array_equal(first.reshape(28, 28), test.images[0])  # in the file's order


def test_new_pictures_become_unlabelled_examples_with_their_files(tmp_path):
  truth = own_data.new_fashion_jpegs(str(tmp_path / 'new'), per_class=2)
  store, error = _run(tmp_path, [create_example_gen(str(tmp_path / 'new'), unlabelled=True)])
  assert error is None, error
  [examples] = store.get_artifacts_by_type('Examples')
  assert examples.properties['split_names'].string_value == '["infer"]'
  records = _records(examples.uri, 'infer')
  assert set(records[0].features.feature) == {'image', 'file'}
  files = {r.features.feature['file'].bytes_list.value[0].decode() for r in records}
  assert files == set(truth)


def test_a_bad_picture_fails_the_component_and_publishes_nothing(tmp_path):
  own_data.sklearn_digits(str(tmp_path / 'data'))
  bad = own_data.truncate_one(str(tmp_path / 'data'))
  store, error = _run(tmp_path, [create_example_gen(str(tmp_path / 'data'), dataset='images')])
  assert isinstance(error, idx.MnistDataError)
  assert str(error).startswith(f'{bad}: cannot read the image (')
  assert not [
    a
    for a in store.get_artifacts_by_type('Examples')
    if a.state == metadata_store_pb2.Artifact.LIVE
  ]
