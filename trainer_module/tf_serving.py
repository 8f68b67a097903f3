"""What TF Serving reads besides the SavedModel: warmup requests and the model server config.

The messages are tensorflow-serving-api's own (pinned in requirements.lock: TFX depends on it),
generated from tensorflow/serving's .proto files (package tensorflow.serving). The fields used:

- tensorflow_serving/apis/prediction_log.proto:
  PredictionLog { oneof log_type { PredictLog predict_log = 6; } }
  PredictLog { PredictRequest request = 1; PredictResponse response = 2; }
- tensorflow_serving/apis/predict.proto:
  PredictRequest { ModelSpec model_spec = 1; map<string, TensorProto> inputs = 2; }
  (TensorProto: TensorFlow's tensorflow/core/framework/tensor.proto)
- tensorflow_serving/apis/model.proto:
  ModelSpec { string name = 1; string signature_name = 3; }
- tensorflow_serving/config/model_server_config.proto:
  ModelServerConfig { oneof config { ModelConfigList model_config_list = 1; } }
  ModelConfigList { repeated ModelConfig config = 1; }
  ModelConfig { string name = 1; string base_path = 2; string model_platform = 4; }

Warmup (tensorflow_serving/servables/tensorflow/saved_model_warmup_util.{h,cc}, g3doc
saved_model_warmup.md): at load, the server reads `assets.extra/tf_serving_warmup_requests` in
the version's directory, a TFRecord file of at most 1000 PredictionLog records, and runs each
request (a PredictLog through the Predict code, predict_util.cc: signature
`model_spec.signature_name`, empty meaning serving_default; the inputs must be exactly the
signature's). A record it cannot parse or a request that fails makes the load fail, so the
requests here are valid digits, and tests/trainer_module/test_tf_serving.py runs each of them.
"""

import os
from typing import Iterator, List, Optional, Tuple

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.apis import prediction_log_pb2
from tensorflow_serving.config import model_server_config_pb2

from trainer_module import SEED_EXAMPLES_NPY
from trainer_module.features import IMAGE_KEY

MODEL_NAME = 'mnist'  # the name in models.config, hence in the REST URL /v1/models/mnist
MODEL_PLATFORM = 'tensorflow'
WARMUP_FILE = os.path.join('assets.extra', 'tf_serving_warmup_requests')
MAX_WARMUP_RECORDS = 1000  # WarmupConsts::kMaxNumRecords
MODELS_CONFIG_FILE = 'models.config'
CLASSIFY_SIGNATURE = 'classify'
SERVING_SIGNATURE = 'serving_default'
EXAMPLES_KEY = 'examples'  # serving_default's input


def example(image_bytes: bytes) -> bytes:
  """A serialized tf.Example with the `image` feature serving_default parses (784 raw bytes)."""
  return tf.train.Example(
    features=tf.train.Features(
      feature={IMAGE_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[image_bytes]))}
    )
  ).SerializeToString()


def predict_log(
  signature_name: str, inputs: dict, model_name: str = MODEL_NAME
) -> prediction_log_pb2.PredictionLog:
  """A PredictionLog holding one PredictRequest (no response: warmup ignores it)."""
  log = prediction_log_pb2.PredictionLog()
  request = log.predict_log.request
  request.model_spec.name = model_name
  request.model_spec.signature_name = signature_name
  for key, value in inputs.items():
    request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
  return log


def warmup_requests(
  images: Optional[np.ndarray] = None,
) -> List[Tuple[str, prediction_log_pb2.PredictionLog]]:
  """(description, PredictionLog) for each signature: one image, then a batch of all.

  `images`: float [N,28,28] in [0, 1]; by default the seed's examples.npy (a 5 and a 3, dark on
  white), sent as is to `classify`. serving_default gets them as ExampleGen writes MNIST: light
  on dark, 784 uint8 bytes per image.
  """
  if images is None:
    images = np.load(SEED_EXAMPLES_NPY)
  images = np.asarray(images, np.float32)
  mnist_bytes = [(255 - np.round(image * 255)).astype(np.uint8).tobytes() for image in images]
  requests = []
  for batch in (images[:1], images):
    requests.append(
      (
        f'{CLASSIFY_SIGNATURE} x{len(batch)}',
        predict_log(CLASSIFY_SIGNATURE, {IMAGE_KEY: tf.constant(batch, tf.float32)}),
      )
    )
  for batch in (mnist_bytes[:1], mnist_bytes):
    requests.append(
      (
        f'{SERVING_SIGNATURE} x{len(batch)}',
        predict_log(
          SERVING_SIGNATURE, {EXAMPLES_KEY: tf.constant([example(b) for b in batch], tf.string)}
        ),
      )
    )
  return requests


def write_warmup_requests(saved_model_dir: str, images: Optional[np.ndarray] = None) -> str:
  """Writes `<saved_model_dir>/assets.extra/tf_serving_warmup_requests`; returns its path."""
  path = os.path.join(saved_model_dir, WARMUP_FILE)
  tf.io.gfile.makedirs(os.path.dirname(path))
  with tf.io.TFRecordWriter(path) as writer:
    for _, log in warmup_requests(images):
      writer.write(log.SerializeToString(deterministic=True))
  return path


def read_warmup_requests(saved_model_dir: str) -> Iterator[prediction_log_pb2.PredictionLog]:
  """The PredictionLogs of a SavedModel's warmup file, read as TF Serving reads them."""
  for record in tf.data.TFRecordDataset(os.path.join(saved_model_dir, WARMUP_FILE)):
    yield prediction_log_pb2.PredictionLog.FromString(record.numpy())


def models_config_text(base_path: str, model_name: str = MODEL_NAME) -> str:
  """TF Serving's --model_config_file: a ModelServerConfig in protobuf text format (g3doc
  serving_config.md), serving the numbered versions under base_path."""
  server_config = model_server_config_pb2.ModelServerConfig()
  server_config.model_config_list.config.add(
    name=model_name, base_path=base_path, model_platform=MODEL_PLATFORM
  )
  return text_format.MessageToString(server_config)


def parse_models_config(text: str) -> model_server_config_pb2.ModelServerConfig:
  """A models.config as TF Serving parses it (ParseProtoTextFile); unknown fields are errors."""
  return text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
