"""TF Serving's warmup requests in the exported SavedModel, read back as the server reads them and
run through the model's own signatures; their bytes decoded a second way, by hand (no protobuf
descriptors), to show the field numbers are those of tensorflow/serving's prediction_log.proto,
predict.proto and model.proto; and models.config."""

import os
import struct

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2

from trainer_module import SEED_EXAMPLES_NPY, export, tf_serving
from trainer_module.model import build_model

LEN = 2  # protobuf wire type of strings, bytes and messages


@pytest.fixture(scope='module')
def export_dir(tmp_path_factory):
  tf.keras.utils.set_random_seed(1)
  path = str(tmp_path_factory.mktemp('export') / 'model')
  export.export_serving_model(build_model(), path)
  return path


@pytest.fixture(scope='module')
def loaded(export_dir):
  return tf.saved_model.load(export_dir)


def _records(path):
  """The TFRecord framing, by hand: uint64 length, uint32 CRC, data, uint32 CRC (little endian)."""
  with open(path, 'rb') as f:
    data = f.read()
  records, at = [], 0
  while at < len(data):
    (length,) = struct.unpack('<Q', data[at : at + 8])
    records.append(data[at + 12 : at + 12 + length])
    at += 12 + length + 4
  assert at == len(data)
  return records


def _varint(data, at):
  value, shift = 0, 0
  while True:
    byte = data[at]
    value |= (byte & 0x7F) << shift
    at += 1
    if not byte & 0x80:
      return value, at
    shift += 7


def _fields(data):
  """[(field number, wire type, value)] of one message; LEN values as bytes, varints as ints."""
  fields, at = [], 0
  while at < len(data):
    key, at = _varint(data, at)
    number, wire_type = key >> 3, key & 7
    if wire_type == 0:
      value, at = _varint(data, at)
    elif wire_type == LEN:
      length, at = _varint(data, at)
      value, at = data[at : at + length], at + length
    else:
      raise AssertionError(f'unexpected wire type {wire_type} for field {number}')
    fields.append((number, wire_type, value))
  return fields


def _only(data, number):
  [(found, wire_type, value)] = [f for f in _fields(data) if f[0] == number]
  assert wire_type == LEN
  return value


def test_the_warmup_file_is_where_tf_serving_looks(export_dir):
  """saved_model_warmup_util.cc: <export dir>/assets.extra/tf_serving_warmup_requests, a TFRecord
  file of at most 1000 records. keras' write_out left it alone (written after it)."""
  assert os.path.isfile(os.path.join(export_dir, 'saved_model.pb'))
  path = os.path.join(export_dir, 'assets.extra', 'tf_serving_warmup_requests')
  assert os.path.isfile(path)
  assert 0 < len(_records(path)) <= 1000
  assert len(list(tf.data.TFRecordDataset(path))) == len(_records(path))


def test_each_request_names_a_signature_and_exactly_its_inputs(export_dir, loaded):
  seen = []
  for log in tf_serving.read_warmup_requests(export_dir):
    assert log.WhichOneof('log_type') == 'predict_log'
    spec = log.predict_log.request.model_spec
    assert spec.name == 'mnist' and not spec.HasField('version')
    signature = loaded.signatures[spec.signature_name]
    expected = signature.structured_input_signature[1]
    inputs = log.predict_log.request.inputs
    assert set(inputs) == set(expected)  # TF Serving's Predict wants exactly the signature's inputs
    for name, tensor in inputs.items():
      array = tf.make_ndarray(tensor)
      assert tf.as_dtype(tensor.dtype) == expected[name].dtype
      assert expected[name].shape.is_compatible_with(array.shape), (name, array.shape)
    seen.append((spec.signature_name, len(array)))
  assert seen == [('classify', 1), ('classify', 2), ('serving_default', 1), ('serving_default', 2)]


def test_each_request_runs_through_its_signature(export_dir, loaded):
  """What the server does at load: each request's inputs through the SavedModel's signature."""
  answers = {}
  for log in tf_serving.read_warmup_requests(export_dir):
    request = log.predict_log.request
    inputs = {name: tf.constant(tf.make_ndarray(tensor)) for name, tensor in request.inputs.items()}
    n = len(next(iter(inputs.values())))
    answer = loaded.signatures[request.model_spec.signature_name](**inputs)
    assert answer['classes'].shape == (n,) and answer['classes'].dtype == tf.int64
    assert answer['probabilities'].shape == (n, 10)
    answers[(request.model_spec.signature_name, n)] = answer['probabilities'].numpy()
  # The same two seed digits, as pixels (dark on white) and as MNIST-style bytes (light on dark).
  np.testing.assert_allclose(answers[('classify', 2)], answers[('serving_default', 2)], atol=1e-5)


def test_field_numbers_on_the_wire_are_tf_servings(export_dir):
  """Decoded without our descriptors. prediction_log.proto: PredictionLog.predict_log = 6,
  PredictLog.request = 1; predict.proto: PredictRequest.model_spec = 1, inputs = 2 (a map: entries
  with key = 1, value = 2); model.proto: ModelSpec.name = 1, signature_name = 3; the value is
  TensorFlow's own TensorProto."""
  records = _records(os.path.join(export_dir, tf_serving.WARMUP_FILE))
  seed = np.load(SEED_EXAMPLES_NPY).astype(np.float32)
  for record, signature, key, n in [
    (records[0], b'classify', b'image', 1),
    (records[3], b'serving_default', b'examples', 2),
  ]:
    assert [f[0] for f in _fields(record)] == [6]
    predict_log = _only(record, 6)
    assert [f[0] for f in _fields(predict_log)] == [1]  # a request, no response
    request = _only(predict_log, 1)
    assert sorted(f[0] for f in _fields(request)) == [1, 2]
    model_spec = _only(request, 1)
    assert _fields(model_spec) == [(1, LEN, b'mnist'), (3, LEN, signature)]
    entry = _only(request, 2)
    assert _only(entry, 1) == key
    array = tf.make_ndarray(tensor_pb2.TensorProto.FromString(_only(entry, 2)))
    assert len(array) == n
    if key == b'image':
      np.testing.assert_array_equal(array, seed[:1])
    else:
      for serialized, image in zip(array, seed, strict=True):
        feature = tf.train.Example.FromString(serialized).features.feature['image']
        [raw] = feature.bytes_list.value
        assert len(raw) == 784
        np.testing.assert_array_equal(
          np.frombuffer(raw, np.uint8).reshape(28, 28), 255 - np.round(image * 255)
        )


def test_models_config_text():
  """model_server_config.proto: ModelServerConfig.model_config_list = 1, ModelConfigList.config
  = 1, ModelConfig.name = 1, base_path = 2, model_platform = 4; the layout of g3doc
  serving_config.md."""
  text = tf_serving.models_config_text('/srv/tfx output/serving')
  assert text == (
    'model_config_list {\n'
    '  config {\n'
    '    name: "mnist"\n'
    '    base_path: "/srv/tfx output/serving"\n'
    '    model_platform: "tensorflow"\n'
    '  }\n'
    '}\n'
  )
  config = tf_serving.parse_models_config(text)
  [model] = config.model_config_list.config
  assert (model.name, model.base_path, model.model_platform) == (
    'mnist',
    '/srv/tfx output/serving',
    'tensorflow',
  )
  quoted = tf_serving.parse_models_config(tf_serving.models_config_text('/a "b"\\c'))
  assert quoted.model_config_list.config[0].base_path == '/a "b"\\c'
