"""Writes the serving SavedModel with the seed's `classify` signature and a tf.Example one.

Keras 3's plain tf.saved_model.save output cannot be run by saved_model_cli (keras#19274);
keras.export.ExportArchive writes signatures that can.

Both answer `classes` (int64 [N]) and `probabilities` (float32 [N, K], K the model's classes:
10 for MNIST); for a model trained on a data set whose classes come from the data (--dataset
images, csv) `classify` also answers `class_names` (string [N], the name of each answer's class),
so a client needs nothing but the model. (Not `serving_default`: TFX's BulkInferrer, through
tfx_bsl 1.16's PredictLog writer, cannot carry a string output of shape [N].)

Both signatures refuse input they would otherwise answer wrongly, inside the graph so that the
checks travel with the SavedModel to any server: `classify` refuses pixels that are NaN, infinite
or outside [0, 1] (0-255 pixels would be taken for dark-on-light digits and inverted);
`serving_default` refuses images that are not exactly 784 bytes (data.decode_images). An empty
batch gets an empty answer.

Beside the SavedModel, `assets.extra/tf_serving_warmup_requests` holds TF Serving warmup requests
for both signatures (tf_serving.py), written after keras' write_out so that nothing replaces
them; every copy of the directory (the Trainer's output, each pushed version) carries them.
"""

from typing import Optional, Sequence

import keras
import tensorflow as tf

from trainer_module import data, tf_serving
from trainer_module.features import IMAGE_KEY, IMAGE_SIZE

CLASSIFY_SIGNATURE = tf_serving.CLASSIFY_SIGNATURE  # 'classify'
SERVING_SIGNATURE = tf_serving.SERVING_SIGNATURE  # 'serving_default'
PIXEL_RANGE = 'image pixels must be in [0, 1] (MNIST pixel values 0-255 divided by 255)'


def check_pixel_range(images: tf.Tensor) -> tf.Tensor:
  """The images, once every pixel is known to be a number in [0, 1]; else InvalidArgumentError.

  The message names the range and what was found, e.g. 'image pixels must be in [0, 1] (...);
  got values from 0 to 255' or '...; got NaN in 3 pixel(s)'.
  """
  ok = tf.reduce_all(tf.logical_and(images >= 0.0, images <= 1.0))  # False for NaN too

  def error_message():  # built only when the check fails
    nans = tf.math.count_nonzero(tf.math.is_nan(images))
    return tf.where(
      nans > 0,
      tf.strings.format(PIXEL_RANGE + '; got NaN in {} pixel(s)', nans),
      tf.strings.format(
        PIXEL_RANGE + '; got values from {} to {}', (tf.reduce_min(images), tf.reduce_max(images))
      ),
    )

  check = tf.debugging.Assert(ok, [tf.cond(ok, lambda: tf.constant(''), error_message)])
  with tf.control_dependencies([check]):
    return tf.identity(images)


def normalize_polarity(images: tf.Tensor) -> tf.Tensor:
  """Inverts images that are dark-on-light (mean pixel > 0.5).

  MNIST digits are light on dark (every MNIST image has mean <= 0.40), but the seed's
  own examples.npy is dark on light; both must give the same answer.
  """
  mean = tf.reduce_mean(images, axis=[1, 2], keepdims=True)
  return tf.where(mean > 0.5, 1.0 - images, images)


CLASS_NAMES_OUTPUT = 'class_names'


def export_serving_model(
  model: keras.Model,
  export_dir: str,
  polarity: bool = True,
  class_names: Optional[Sequence[str]] = None,
) -> None:
  """`classify` and `serving_default`; with `polarity`, dark-on-light images are inverted first;
  with `class_names` (one for each of the model's classes), `classify` also answers each class's
  name."""
  num_classes = int(model.output_shape[-1])
  if class_names is not None and len(class_names) != num_classes:
    raise ValueError(f'{len(class_names)} class names for a model of {num_classes} classes')
  names = tf.constant(list(class_names)) if class_names is not None else None

  def predict(images):
    images = check_pixel_range(images)  # on the raw input: before polarity can hide 0-255

    def answer():
      logits = model(normalize_polarity(images) if polarity else images, training=False)
      return (tf.argmax(logits, axis=1, output_type=tf.int64), tf.nn.softmax(logits, axis=1))

    def no_answer():  # the model's second convolution rejects an empty batch
      return tf.zeros([0], tf.int64), tf.zeros([0, num_classes], tf.float32)

    classes, probabilities = tf.cond(tf.shape(images)[0] > 0, answer, no_answer)
    return {'classes': classes, 'probabilities': probabilities}

  @tf.function(
    input_signature=[tf.TensorSpec([None, IMAGE_SIZE, IMAGE_SIZE], tf.float32, name=IMAGE_KEY)]
  )
  def classify(image):
    outputs = predict(image)
    if names is not None:
      outputs[CLASS_NAMES_OUTPUT] = tf.gather(names, outputs['classes'])
    return outputs

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='examples')])
  def serve_examples(examples):
    features = tf.io.parse_example(examples, {IMAGE_KEY: data.FEATURE_SPEC[IMAGE_KEY]})
    return predict(data.decode_images(features[IMAGE_KEY]))

  archive = keras.export.ExportArchive()
  archive.track(model)
  archive.add_endpoint(SERVING_SIGNATURE, serve_examples)
  archive.add_endpoint(CLASSIFY_SIGNATURE, classify)
  archive.write_out(export_dir, verbose=False)
  tf_serving.write_warmup_requests(export_dir)
