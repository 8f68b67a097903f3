"""The pushed SavedModel's two signatures: shapes, dtypes, and both image polarities."""

import numpy as np
import pytest
import tensorflow as tf

from components import mnist_data
from trainer_module import SEED_EXAMPLES_NPY
from trainer_module import export
from trainer_module.model import build_model


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
  tf.keras.utils.set_random_seed(1)
  path = str(tmp_path_factory.mktemp('export') / 'model')
  export.export_serving_model(build_model(), path)
  return tf.saved_model.load(path)


def _example(image: np.ndarray) -> bytes:
  return tf.train.Example(features=tf.train.Features(feature={
      'image': tf.train.Feature(bytes_list=tf.train.BytesList(value=[image.tobytes()])),
      'label': tf.train.Feature(int64_list=tf.train.Int64List(value=[0])),
  })).SerializeToString()


def test_signatures_and_specs(exported):
  assert set(exported.signatures) == {'classify', 'serving_default'}
  classify = exported.signatures['classify']
  assert classify.structured_input_signature[1] == {
      'image': tf.TensorSpec([None, 28, 28], tf.float32, name='image')}
  outputs = classify.structured_outputs
  assert outputs['classes'].dtype == tf.int64 and outputs['classes'].shape.as_list() == [None]
  assert outputs['probabilities'].dtype == tf.float32
  assert outputs['probabilities'].shape.as_list() == [None, 10]
  serving = exported.signatures['serving_default']
  assert serving.structured_input_signature[1] == {
      'examples': tf.TensorSpec([None], tf.string, name='examples')}


def test_classify_and_serving_default_agree(exported, mnist_dir):
  images = mnist_data.load_split(mnist_dir, 't10k').images[:16]
  by_image = exported.signatures['classify'](image=tf.constant(images / 255.0, tf.float32))
  by_example = exported.signatures['serving_default'](
      examples=tf.constant([_example(i) for i in images]))
  np.testing.assert_array_equal(by_image['classes'], by_example['classes'])
  np.testing.assert_allclose(by_image['probabilities'], by_example['probabilities'], atol=1e-6)
  np.testing.assert_allclose(np.sum(by_image['probabilities'], axis=1), 1.0, atol=1e-5)
  assert by_image['classes'].shape == (16,)


def test_both_polarities_give_the_same_answer(exported):
  seed = np.load(SEED_EXAMPLES_NPY).astype(np.float32)
  assert seed.mean() > 0.5, 'the seed examples are dark digits on white'
  dark_on_light = exported.signatures['classify'](image=tf.constant(seed))
  light_on_dark = exported.signatures['classify'](image=tf.constant(1.0 - seed))
  np.testing.assert_allclose(dark_on_light['probabilities'], light_on_dark['probabilities'],
                             atol=1e-6)


def test_polarity_normalization_leaves_all_of_mnist_unchanged(mnist_dir):
  for prefix in ('train', 't10k'):
    images = tf.constant(mnist_data.load_split(mnist_dir, prefix).images / 255.0, tf.float32)
    np.testing.assert_array_equal(export.normalize_polarity(images).numpy(), images.numpy())
