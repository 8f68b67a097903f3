"""The pushed SavedModel's two signatures: shapes, dtypes, both image polarities, and the input
they refuse rather than answer wrongly."""

import numpy as np
import pytest
import tensorflow as tf

from components.lib import idx
from trainer_module import SEED_EXAMPLES_NPY, export
from trainer_module.model import build_model


@pytest.fixture(scope='module')
def model():
  tf.keras.utils.set_random_seed(1)
  return build_model()


@pytest.fixture(scope='module')
def exported(model, tmp_path_factory):
  path = str(tmp_path_factory.mktemp('export') / 'model')
  export.export_serving_model(model, path)
  return tf.saved_model.load(path)


@pytest.fixture(scope='module')
def digits(mnist_dir) -> np.ndarray:
  """16 real MNIST test digits, uint8 0-255."""
  return idx.load_split(mnist_dir, 't10k').images[:16]


def _example(image) -> bytes:
  raw = image if isinstance(image, bytes) else image.tobytes()
  return tf.train.Example(
    features=tf.train.Features(
      feature={
        'image': tf.train.Feature(bytes_list=tf.train.BytesList(value=[raw])),
        'label': tf.train.Feature(int64_list=tf.train.Int64List(value=[0])),
      }
    )
  ).SerializeToString()


def _classify(exported, images):
  return exported.signatures['classify'](image=tf.constant(images, tf.float32))


def _serve(exported, examples):
  return exported.signatures['serving_default'](examples=tf.constant(examples, tf.string))


def test_signatures_and_specs(exported):
  assert set(exported.signatures) == {'classify', 'serving_default'}
  classify = exported.signatures['classify']
  assert classify.structured_input_signature[1] == {
    'image': tf.TensorSpec([None, 28, 28], tf.float32, name='image')
  }
  outputs = classify.structured_outputs
  assert outputs['classes'].dtype == tf.int64 and outputs['classes'].shape.as_list() == [None]
  assert outputs['probabilities'].dtype == tf.float32
  assert outputs['probabilities'].shape.as_list() == [None, 10]
  serving = exported.signatures['serving_default']
  assert serving.structured_input_signature[1] == {
    'examples': tf.TensorSpec([None], tf.string, name='examples')
  }


def test_classify_and_serving_default_agree(exported, digits):
  by_image = _classify(exported, digits / 255.0)
  by_example = _serve(exported, [_example(i) for i in digits])
  np.testing.assert_array_equal(by_image['classes'], by_example['classes'])
  np.testing.assert_allclose(by_image['probabilities'], by_example['probabilities'], atol=1e-6)
  np.testing.assert_allclose(np.sum(by_image['probabilities'], axis=1), 1.0, atol=1e-5)
  assert by_image['classes'].shape == (16,)


def test_both_polarities_give_the_same_answer(exported):
  seed = np.load(SEED_EXAMPLES_NPY).astype(np.float32)
  assert seed.mean() > 0.5, 'the seed examples are dark digits on white'
  dark_on_light = exported.signatures['classify'](image=tf.constant(seed))
  light_on_dark = exported.signatures['classify'](image=tf.constant(1.0 - seed))
  np.testing.assert_allclose(
    dark_on_light['probabilities'], light_on_dark['probabilities'], atol=1e-6
  )


@pytest.mark.slow  # reads all 70,000 MNIST images
def test_polarity_normalization_leaves_all_of_mnist_unchanged(mnist_dir):
  for prefix in ('train', 't10k'):
    images = tf.constant(idx.load_split(mnist_dir, prefix).images / 255.0, tf.float32)
    np.testing.assert_array_equal(export.normalize_polarity(images).numpy(), images.numpy())


def test_classify_answers_what_the_keras_model_answers(exported, model, digits):
  """The checks change nothing for valid input (MNIST digits scaled to [0, 1], 0 and 1 included)."""
  images = (digits / 255.0).astype(np.float32)
  assert images.min() == 0.0 and images.max() == 1.0
  logits = model(images, training=False)
  answer = _classify(exported, images)
  np.testing.assert_array_equal(answer['classes'], np.argmax(logits, axis=1))
  np.testing.assert_allclose(answer['probabilities'], tf.nn.softmax(logits), atol=1e-6)


def _poisoned(value):
  """Three valid images (a bar of 1s on 0s), one pixel of the last one set to `value`."""
  images = np.zeros((3, 28, 28), np.float32)
  images[:, 10:18, 12:16] = 1.0
  images[2, 5, 7] = value
  return images


@pytest.mark.parametrize(
  'images, found',
  [
    (lambda digits: digits.astype(np.float32), 'got values from 0 to 255'),  # unscaled MNIST
    (lambda _: _poisoned(1.5), 'got values from 0 to 1.5'),
    (lambda _: _poisoned(-0.25), 'got values from -0.25 to 1'),
    (lambda _: _poisoned(np.nan), 'got NaN in 1 pixel(s)'),
    (lambda _: _poisoned(np.inf), 'got values from 0 to inf'),
    (lambda _: _poisoned(-np.inf), 'got values from -inf to 1'),
  ],
  ids=['0-255', 'above 1', 'negative', 'nan', '+inf', '-inf'],
)
def test_classify_refuses_pixels_outside_0_1(exported, digits, images, found):
  """Checked on the raw input, before polarity (after it, 0-255 would read -254 to 1): unscaled
  digits have a mean above 0.5, so they used to be inverted and classified wrongly, silently."""
  with pytest.raises(tf.errors.InvalidArgumentError) as error:
    _classify(exported, images(digits))
  assert (
    'image pixels must be in [0, 1] (MNIST pixel values 0-255 divided by 255); ' + found
    in error.value.message
  )


@pytest.mark.parametrize(
  'sizes, found',
  [
    ([1568] * 3, 'got 1568 bytes in example 0'),  # used to give 6 answers to 3 examples
    ([783] * 3, 'got 783 bytes in example 0'),
    ([784, 784, 785], 'got 785 bytes in example 2'),
    ([784, 0], 'got 0 bytes in example 1'),
  ],
  ids=['1568', '783', '785 after valid ones', 'empty image'],
)
def test_serving_default_refuses_images_that_are_not_784_bytes(exported, sizes, found):
  examples = [_example((bytes(range(256)) * 7)[:n]) for n in sizes]
  with pytest.raises(tf.errors.InvalidArgumentError) as error:
    _serve(exported, examples)
  assert (
    'each image must be exactly 784 bytes (28x28 uint8 pixels); ' + found in error.value.message
  )


@pytest.mark.parametrize('n', [0, 1, 3, 16])
def test_one_answer_per_input_and_empty_batches_answer_empty(exported, digits, n):
  for answer in (
    _classify(exported, np.reshape(digits[:n] / 255.0, [n, 28, 28])),
    _serve(exported, [_example(i) for i in digits[:n]]),
  ):
    assert answer['classes'].shape == (n,) and answer['classes'].dtype == tf.int64
    assert answer['probabilities'].shape == (n, 10)


def test_without_the_polarity_rule_bright_images_are_answered_as_they_are(
  model, exported, digits, tmp_path
):
  """Fashion-MNIST's export (polarity=False): a bright image is the model's input unchanged,
  where the MNIST export answers for its inverse."""
  path = str(tmp_path / 'no-polarity')
  export.export_serving_model(model, path, polarity=False)
  plain = tf.saved_model.load(path)
  bright = (1.0 - digits / 255.0).astype(np.float32)
  assert bright.mean(axis=(1, 2)).min() > 0.5
  np.testing.assert_allclose(
    _classify(plain, bright)['probabilities'],
    tf.nn.softmax(model(bright, training=False)),
    atol=1e-6,
  )
  np.testing.assert_allclose(
    _classify(exported, bright)['probabilities'],
    tf.nn.softmax(model(1.0 - bright, training=False)),
    atol=1e-6,
  )


def test_a_model_of_three_named_classes(digits, tmp_path):
  """A data set that brings its own classes: `classify` answers K probabilities and each class's
  name; `serving_default` (TFMA's and the BulkInferrer's) the same classes, without names."""
  tf.keras.utils.set_random_seed(2)
  three = build_model(num_classes=3)
  path = str(tmp_path / 'three')
  export.export_serving_model(three, path, polarity=False, class_names=['cat', 'dog', 'emu'])
  loaded = tf.saved_model.load(path)
  outputs = loaded.signatures['classify'].structured_outputs
  assert outputs['probabilities'].shape.as_list() == [None, 3]
  assert outputs['class_names'].dtype == tf.string
  assert 'class_names' not in loaded.signatures['serving_default'].structured_outputs
  answer = _classify(loaded, digits[:5] / 255.0)
  names = [n.decode() for n in answer['class_names'].numpy()]
  assert names == [['cat', 'dog', 'emu'][c] for c in answer['classes'].numpy()]
  served = _serve(loaded, [_example(i) for i in digits[:5]])
  assert np.array_equal(served['classes'], answer['classes'])
  empty = _classify(loaded, np.zeros((0, 28, 28)))
  assert empty['probabilities'].shape == (0, 3) and empty['class_names'].shape == (0,)
  with pytest.raises(ValueError, match='2 class names for a model of 3 classes'):
    export.export_serving_model(three, str(tmp_path / 'x'), class_names=['cat', 'dog'])


def test_the_mnist_export_answers_no_names(exported):
  assert set(exported.signatures['classify'].structured_outputs) == {'classes', 'probabilities'}
