"""Reads a finished run back from ML Metadata: what ran, what was blessed, what was pushed."""
import dataclasses
from typing import Dict, List, Optional

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from components.mnist_evaluator import ACCURACY_METRIC

_STATES = {v: k for k, v in metadata_store_pb2.Execution.State.items()}
_OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)


@dataclasses.dataclass
class RunSummary:
  run_id: str
  component_states: Dict[str, str]  # node id -> COMPLETE / CACHED / FAILED ...
  accuracy: Optional[float] = None
  baseline_accuracy: Optional[float] = None
  blessed: Optional[bool] = None
  failures: List[str] = dataclasses.field(default_factory=list)  # why not blessed
  pushed_version: Optional[str] = None
  pushed_dir: Optional[str] = None
  examples_uri: Optional[str] = None
  model_uri: Optional[str] = None


def _node_id(store, execution_id: int) -> str:
  for context in store.get_contexts_by_execution(execution_id):
    if store.get_context_types_by_id([context.type_id])[0].name == 'node':
      return context.name.split('.', 1)[-1]
  return '?'


def _outputs(store, execution_id: int) -> List[metadata_store_pb2.Artifact]:
  events = store.get_events_by_execution_ids([execution_id])
  ids = [e.artifact_id for e in events if e.type in _OUTPUT_EVENTS]
  return store.get_artifacts_by_id(ids) if ids else []


def _custom(artifact, key):
  if key not in artifact.custom_properties:
    return None
  value = artifact.custom_properties[key]
  return getattr(value, value.WhichOneof('value')) if value.WhichOneof('value') else None


def read_evaluation(uri: str):
  """(candidate accuracy, baseline accuracy or None, validation failures as text)."""
  import tensorflow_model_analysis as tfma
  accuracy = baseline = None
  for metrics in tfma.load_metrics(uri):
    if metrics.slice_key.single_slice_keys:
      continue  # overall slice only
    for kv in metrics.metric_keys_and_values:
      if kv.key.name != ACCURACY_METRIC or kv.key.is_diff:
        continue
      value = kv.value.double_value.value
      if kv.key.model_name == 'baseline':
        baseline = value
      else:
        accuracy = value
  failures = []
  validation = tfma.load_validation_result(uri)
  for per_slice in validation.metric_validations_per_slice:
    for failure in per_slice.failures:
      threshold = failure.metric_threshold
      value = failure.metric_value.double_value.value
      if threshold.HasField('change_threshold'):
        failures.append(f'{ACCURACY_METRIC} changed by {value:+.4f} against the last blessed model '
                        '(must not get worse)')
      else:
        bound = threshold.value_threshold.lower_bound.value
        failures.append(f'{ACCURACY_METRIC} {value:.4f} is below the bound {bound:.4f}')
  return accuracy, baseline, failures


def latest_run(metadata_path: str) -> Optional[RunSummary]:
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = metadata_path
  config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
  return summarize_latest_run(metadata_store.MetadataStore(config))


def summarize_latest_run(store) -> Optional[RunSummary]:
  runs = store.get_contexts_by_type('pipeline_run')
  if not runs:
    return None
  run = max(runs, key=lambda c: (c.create_time_since_epoch, c.id))
  summary = RunSummary(run_id=run.name, component_states={})
  for execution in sorted(store.get_executions_by_context(run.id), key=lambda e: e.id):
    node = _node_id(store, execution.id)
    summary.component_states[node] = _STATES.get(execution.last_known_state, '?')
    for artifact in _outputs(store, execution.id):
      type_name = store.get_artifact_types_by_id([artifact.type_id])[0].name
      if type_name == 'Examples':
        summary.examples_uri = artifact.uri
      elif type_name == 'Model':
        summary.model_uri = artifact.uri
      elif type_name == 'ModelEvaluation':
        summary.accuracy, summary.baseline_accuracy, summary.failures = read_evaluation(artifact.uri)
      elif type_name == 'ModelBlessing':
        blessed = _custom(artifact, 'blessed')
        summary.blessed = None if blessed is None else bool(blessed)
      elif type_name == 'PushedModel' and _custom(artifact, 'pushed'):
        summary.pushed_version = _custom(artifact, 'pushed_version')
        summary.pushed_dir = _custom(artifact, 'pushed_destination')
  return summary
