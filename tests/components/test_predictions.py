"""PredictionsWriter: the BulkInferrer's prediction logs (as tfx_bsl 1.16 writes them for a
`serving_default` signature: the request's serialized tf.Example, the response's outputs) become
predictions.csv, a row per picture with its class's name; with a model not blessed, nothing."""

import json

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2
from tfx.types import standard_artifacts

from components import predictions
from components.example_records import to_example
from components.lib import names


def _log(file: str, probabilities) -> prediction_log_pb2.PredictionLog:
  """One PredictLog as tfx_bsl's _PredictModelHandler._post_process makes it."""
  log = prediction_log_pb2.PredictionLog()
  request = log.predict_log.request.inputs['examples']
  request.dtype = tf.string.as_datatype_enum
  request.tensor_shape.dim.add().size = 1
  example = to_example(np.zeros((28, 28), np.uint8), None, file)
  request.string_val.append(example.SerializeToString())
  values = np.asarray(probabilities, np.float32)
  outputs = log.predict_log.response.outputs
  outputs['probabilities'].CopyFrom(tf.make_tensor_proto(values, shape=(1, len(values))))
  outputs['classes'].CopyFrom(tf.make_tensor_proto(np.array([values.argmax()]), shape=(1,)))
  return log


def _artifacts(tmp_path, blessed: int):
  result = standard_artifacts.InferenceResult()
  result.uri = str(tmp_path / 'result')
  blessing = standard_artifacts.ModelBlessing()
  blessing.set_int_custom_property(names.BLESSED, blessed)
  examples = standard_artifacts.Examples()
  examples.uri = str(tmp_path / 'examples')
  examples.set_string_custom_property(names.CLASS_NAMES, json.dumps(['bag', 'sneaker', 'trouser']))
  out = standard_artifacts.InferenceResult()
  out.uri = str(tmp_path / 'out')
  tf.io.gfile.makedirs(out.uri)
  inputs = {'inference_result': [result], 'model_blessing': [blessing], 'examples': [examples]}
  return inputs, {'predictions': [out]}, out


def test_a_row_per_picture_with_its_class_name(tmp_path):
  inputs, outputs, out = _artifacts(tmp_path, blessed=1)
  tf.io.gfile.makedirs(inputs['inference_result'][0].uri)
  logs = [_log('b.jpg', [0.1, 0.7, 0.2]), _log('a.png', [0.9, 0.05, 0.05])]
  path = f'{inputs["inference_result"][0].uri}/prediction_logs-00000-of-00001.gz'
  with tf.io.TFRecordWriter(path, options='GZIP') as writer:
    for log in logs:
      writer.write(log.SerializeToString())
  predictions.Executor().Do(inputs, outputs, {})
  with open(f'{out.uri}/{names.PREDICTIONS_FILE}') as f:
    assert f.read() == 'file,class,probability\na.png,bag,0.900000\nb.jpg,sneaker,0.700000\n'
  assert out.get_int_custom_property(names.PREDICTED_ROWS) == 2


def test_nothing_with_a_model_not_blessed(tmp_path):
  inputs, outputs, out = _artifacts(tmp_path, blessed=0)
  predictions.Executor().Do(inputs, outputs, {})
  assert not tf.io.gfile.exists(f'{out.uri}/{names.PREDICTIONS_FILE}')
  assert out.get_string_custom_property(names.NOT_BLESSED_NOTE) == predictions.NOT_BLESSED


def test_names_come_from_the_model_when_it_answers_them():
  log = _log('x.png', [0.2, 0.8])
  names_proto = tf.make_tensor_proto(np.array([b'dog'], dtype=object), shape=(1,))
  log.predict_log.response.outputs['class_names'].CopyFrom(names_proto)
  assert predictions.answer(log, ['cat', 'kitten']) == ('x.png', 'dog', np.float32(0.8))
  assert predictions.answer(_log('y.png', [0.3, 0.7]), ['cat', 'dog'])[1] == 'dog'
