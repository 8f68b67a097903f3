"""The Evaluator's result, read from TFMA's own output files without importing TFMA (and, on a
local filesystem, without TensorFlow: 7 s of imports for three small files): the metrics and
validations TFRecords and eval_config.json of a ModelEvaluation, parsed with TFMA's generated
protobuf modules alone. One reader for every caller: the ServingCheck, the KFP results step and
the read-side tools. tests/inspection/test_fast_read_path.py checks it against TFMA's own
loaders."""

import dataclasses
import importlib.util
import json
import os
import struct
import sys
import types
from typing import Any, Dict, Iterator, List, Optional

from components.lib import artifact_files

# What components/mnist_evaluator.py's EvalConfig computes and bounds (this is their one home).
ACCURACY_CLASS = 'SparseCategoricalAccuracy'
ACCURACY_METRIC = 'sparse_categorical_accuracy'
EXAMPLE_COUNT_METRIC = 'example_count'
_DIRECTIONS = {0: 'UNKNOWN', 1: 'HIGHER_IS_BETTER', 2: 'LOWER_IS_BETTER'}  # tfma.MetricDirection


@dataclasses.dataclass
class Evaluation:
  """What one Evaluator run found, read from its output alone (any orchestrator, any filesystem)."""

  accuracy: Optional[float] = None
  baseline_accuracy: Optional[float] = None
  failures: List[str] = dataclasses.field(default_factory=list)  # why not blessed
  accuracy_threshold: Optional[float] = None  # the gate TFMA applied (its eval_config.json)
  change_threshold: Optional[Dict[str, Any]] = None  # only when a baseline was compared
  example_count: Optional[int] = None  # examples the candidate was evaluated on


_PROTOS: Dict[str, types.ModuleType] = {}


def _tfma_protos() -> Dict[str, types.ModuleType]:
  """TFMA's metrics_for_slice_pb2 and validation_result_pb2, loaded without running TFMA's
  package __init__ (which imports TensorFlow and Beam). The package entries are taken out of
  sys.modules again, so a later real `import tensorflow_model_analysis` loads normally."""
  if _PROTOS:
    return _PROTOS
  if 'tensorflow_model_analysis' in sys.modules:  # already paid for: use the real ones
    from tensorflow_model_analysis.proto import metrics_for_slice_pb2, validation_result_pb2
  else:
    spec = importlib.util.find_spec('tensorflow_model_analysis')
    if spec is None or not spec.submodule_search_locations:
      raise ImportError('tensorflow-model-analysis is not installed')
    root = spec.submodule_search_locations[0]
    for name, path in (
      ('tensorflow_model_analysis', root),
      ('tensorflow_model_analysis.proto', os.path.join(root, 'proto')),
    ):
      package = types.ModuleType(name)
      package.__path__ = [path]
      sys.modules[name] = package
    try:
      from tensorflow_model_analysis.proto import metrics_for_slice_pb2, validation_result_pb2
    finally:
      for name in [n for n in sys.modules if n.split('.')[0] == 'tensorflow_model_analysis']:
        del sys.modules[name]
  _PROTOS.update(metrics=metrics_for_slice_pb2, validation=validation_result_pb2)
  return _PROTOS


def _records(path: str) -> Iterator[bytes]:
  """The records of an uncompressed TFRecord file (length, length crc, data, data crc)."""
  with artifact_files.open_binary(path) as f:
    while True:
      header = f.read(12)
      if len(header) < 12:
        return
      (length,) = struct.unpack('<Q', header[:8])
      data = f.read(length)
      f.read(4)
      yield data


def read_evaluation(uri: str) -> Evaluation:
  """What TFMA found and the gate it applied, read from the evaluation alone."""
  protos = _tfma_protos()
  evaluation = Evaluation()
  metric_files = sorted(
    artifact_files.glob(os.path.join(uri, 'metrics*.tfrecord'))
    or artifact_files.glob(os.path.join(uri, 'metrics*'))
  )
  if not metric_files:
    raise FileNotFoundError(f'no TFMA metrics in {uri}')
  for path in metric_files:
    for record in _records(path):
      metrics = protos['metrics'].MetricsForSlice.FromString(record)
      if metrics.slice_key.single_slice_keys:
        continue  # overall slice only
      for kv in metrics.metric_keys_and_values:
        if kv.key.is_diff:
          continue
        if kv.key.name == EXAMPLE_COUNT_METRIC and kv.key.model_name != 'baseline':
          evaluation.example_count = int(kv.value.double_value.value)
        if kv.key.name != ACCURACY_METRIC:
          continue
        if kv.key.model_name == 'baseline':
          evaluation.baseline_accuracy = kv.value.double_value.value
        else:
          evaluation.accuracy = kv.value.double_value.value
  for path in sorted(artifact_files.glob(os.path.join(uri, 'validations*'))):
    for record in _records(path):
      validation = protos['validation'].ValidationResult.FromString(record)
      for per_slice in validation.metric_validations_per_slice:
        for failure in per_slice.failures:
          threshold = failure.metric_threshold
          value = failure.metric_value.double_value.value
          if threshold.HasField('change_threshold'):
            evaluation.failures.append(
              f'{ACCURACY_METRIC} changed by {value:+.4f} against the last '
              'blessed model (must not get worse)'
            )
          else:
            bound = threshold.value_threshold.lower_bound.value
            evaluation.failures.append(
              f'{ACCURACY_METRIC} {value:.4f} is below the bound {bound:.4f}'
            )
  for path in artifact_files.glob(
    os.path.join(uri, 'eval_config.json')
  ):  # TFMA's record of the gate it applied
    with artifact_files.open_binary(path) as f:
      config = json.loads(f.read()).get('evalConfig', {})
    for spec in config.get('metricsSpecs', []):
      for metric in spec.get('metrics', []):
        threshold = metric.get('threshold')
        if metric.get('className') != ACCURACY_CLASS or not threshold:
          continue
        lower = threshold.get('valueThreshold', {}).get('lowerBound')
        if lower is not None:
          evaluation.accuracy_threshold = float(lower)
        change = threshold.get('changeThreshold')
        if change is not None:
          direction = change.get('direction', 'UNKNOWN')
          evaluation.change_threshold = {
            'absolute': float(change.get('absolute', 0.0)),
            'direction': _DIRECTIONS.get(direction, direction),
          }
  return evaluation
