"""Writes the serving SavedModel with the seed's `classify` signature and a tf.Example one.

Keras 3's plain tf.saved_model.save output cannot be run by saved_model_cli (keras#19274);
keras.export.ExportArchive writes signatures that can.
"""
import keras
import tensorflow as tf

from trainer_module import data
from trainer_module.features import IMAGE_KEY, IMAGE_SIZE

CLASSIFY_SIGNATURE = 'classify'
SERVING_SIGNATURE = 'serving_default'


def normalize_polarity(images: tf.Tensor) -> tf.Tensor:
  """Inverts images that are dark-on-light (mean pixel > 0.5).

  MNIST digits are light on dark (every MNIST image has mean <= 0.40), but the seed's
  own examples.npy is dark on light; both must give the same answer.
  """
  mean = tf.reduce_mean(images, axis=[1, 2], keepdims=True)
  return tf.where(mean > 0.5, 1.0 - images, images)


def export_serving_model(model: keras.Model, export_dir: str) -> None:

  def predict(images):
    logits = model(normalize_polarity(images), training=False)
    return {
        'classes': tf.argmax(logits, axis=1, output_type=tf.int64),
        'probabilities': tf.nn.softmax(logits, axis=1),
    }

  @tf.function(input_signature=[
      tf.TensorSpec([None, IMAGE_SIZE, IMAGE_SIZE], tf.float32, name=IMAGE_KEY)])
  def classify(image):
    return predict(image)

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='examples')])
  def serve_examples(examples):
    features = tf.io.parse_example(examples, {IMAGE_KEY: data.FEATURE_SPEC[IMAGE_KEY]})
    return predict(data.decode_images(features[IMAGE_KEY]))

  archive = keras.export.ExportArchive()
  archive.track(model)
  archive.add_endpoint(SERVING_SIGNATURE, serve_examples)
  archive.add_endpoint(CLASSIFY_SIGNATURE, classify)
  archive.write_out(export_dir, verbose=False)
