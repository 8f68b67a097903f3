"""PredictionsWriter: TFX's BulkInferrer's answers for a folder of new pictures (--infer-dir), as
a CSV a person reads: `file`, `class` (the class's name), `probability`, a row per picture in file
order, in `predictions.csv` of its own InferenceResult artifact, so that ML Metadata links it to
the BulkInferrer's result, hence to the model and its blessing (`mnist-tfx inspect lineage` on
the file walks that way).

The BulkInferrer (TFX's, on Beam) runs the model's `serving_default` signature over the Examples
of the new pictures only when its model is blessed; it writes nothing otherwise, and so does this
component: its artifact then says why (names.NOT_BLESSED_NOTE). The class names are the model's
own `class_names` output, else the training data's (names.CLASS_NAMES), else the digits.
"""

import csv
import io
import json
from typing import Any, Dict, Iterator, List, Tuple

import numpy as np
import tensorflow as tf
from absl import logging
from tensorflow_serving.apis import prediction_log_pb2
from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec
from tfx.utils import io_utils

from components.lib import artifact_files, names
from trainer_module.export import CLASS_NAMES_OUTPUT, SERVING_SIGNATURE
from trainer_module.features import FILE_KEY, NUM_CLASSES
from trainer_module.tf_serving import EXAMPLES_KEY

HEADER = ('file', 'class', 'probability')
LOGS_PATTERN = 'prediction_logs-*'  # what TFX's BulkInferrer writes (bulk_inferrer/executor.py)
NOT_BLESSED = 'the model was not blessed: nothing inferred'
SIGNATURE = SERVING_SIGNATURE  # what the BulkInferrer runs: it takes serialized tf.Examples


def _logs(uri: str) -> Iterator[prediction_log_pb2.PredictionLog]:
  files = sorted(tf.io.gfile.glob(f'{uri.rstrip("/")}/{LOGS_PATTERN}'))
  for record in tf.data.TFRecordDataset(files, compression_type='GZIP') if files else []:
    yield prediction_log_pb2.PredictionLog.FromString(record.numpy())


def answer(log: prediction_log_pb2.PredictionLog, class_names: List[str]) -> Tuple[str, str, float]:
  """(file, class name, probability) of one PredictLog of the `serving_default` signature."""
  predict = log.predict_log
  example = tf.train.Example.FromString(predict.request.inputs[EXAMPLES_KEY].string_val[0])
  file = example.features.feature[FILE_KEY].bytes_list.value[0].decode('utf-8', 'replace')
  outputs = predict.response.outputs
  probabilities = tf.make_ndarray(outputs['probabilities']).reshape(-1)
  best = int(np.argmax(probabilities))
  if CLASS_NAMES_OUTPUT in outputs:
    name = tf.make_ndarray(outputs[CLASS_NAMES_OUTPUT]).reshape(-1)[0]
    name = name.decode('utf-8', 'replace') if isinstance(name, bytes) else str(name)
  else:
    name = class_names[best] if best < len(class_names) else str(best)
  return file, name, float(probabilities[best])


def csv_text(rows: List[Tuple[str, str, float]]) -> str:
  out = io.StringIO()
  writer = csv.writer(out, lineterminator='\n')
  writer.writerow(HEADER)
  writer.writerows((file, name, f'{p:.6f}') for file, name, p in sorted(rows))
  return out.getvalue()


def _class_names(examples) -> List[str]:
  recorded = examples.get_string_custom_property(names.CLASS_NAMES)
  found = json.loads(recorded) if recorded else None
  if found is None:
    found = (artifact_files.read_image_stats(examples.uri) or {}).get(names.CLASS_NAMES)
  return [str(n) for n in found] if found else [str(i) for i in range(NUM_CLASSES)]


class PredictionsWriterSpec(ComponentSpec):
  INPUTS = {
    'inference_result': ChannelParameter(type=standard_artifacts.InferenceResult),
    'model_blessing': ChannelParameter(type=standard_artifacts.ModelBlessing),
    'examples': ChannelParameter(type=standard_artifacts.Examples),  # the training data's
  }
  OUTPUTS = {'predictions': ChannelParameter(type=standard_artifacts.InferenceResult)}
  PARAMETERS: Dict[str, Any] = {}


class Executor(base_executor.BaseExecutor):
  def Do(
    self,
    input_dict: Dict[str, List[types.Artifact]],
    output_dict: Dict[str, List[types.Artifact]],
    exec_properties: Dict[str, Any],
  ) -> None:
    del exec_properties
    blessing = artifact_utils.get_single_instance(input_dict['model_blessing'])
    result = artifact_utils.get_single_instance(input_dict['inference_result'])
    predictions = artifact_utils.get_single_instance(output_dict['predictions'])
    if blessing.get_int_custom_property(names.BLESSED) != 1:  # as the BulkInferrer decides
      predictions.set_string_custom_property(names.NOT_BLESSED_NOTE, NOT_BLESSED)
      logging.info(names.PREDICTIONS_LOG, 'nothing: the model was not blessed')
      return
    class_names = _class_names(artifact_utils.get_single_instance(input_dict['examples']))
    rows = [answer(log, class_names) for log in _logs(result.uri)]
    io_utils.write_string_file(
      f'{predictions.uri.rstrip("/")}/{names.PREDICTIONS_FILE}', csv_text(rows)
    )
    predictions.set_int_custom_property(names.PREDICTED_ROWS, len(rows))
    logging.info(names.PREDICTIONS_LOG, f'{len(rows)} predictions')


class PredictionsWriter(base_component.BaseComponent):
  """The BulkInferrer's prediction logs → predictions.csv (file, class, probability)."""

  SPEC_CLASS = PredictionsWriterSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

  def __init__(
    self,
    inference_result: types.BaseChannel,
    model_blessing: types.BaseChannel,
    examples: types.BaseChannel,
  ):
    super().__init__(
      spec=PredictionsWriterSpec(
        inference_result=inference_result,
        model_blessing=model_blessing,
        examples=examples,
        predictions=types.Channel(type=standard_artifacts.InferenceResult),
      )
    )
