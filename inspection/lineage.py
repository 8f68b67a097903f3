"""Lineage of one artifact, walked upstream through ML Metadata: PushedModel ← Pusher ← Model ←
Trainer ← Examples ← MnistExampleGen (with the source files' digests), and ModelBlessing ←
Evaluator (with its metrics, thresholds and the baseline it was compared with)."""
import dataclasses
from typing import Any, Dict, List, Optional

from ml_metadata.proto import metadata_store_pb2

from inspection import runs
from components.lib import mlmd

_SHOWN_PROPERTIES = {
    'Examples': ('dataset', 'split_names', 'sha256_train_images', 'sha256_train_labels', 'sha256_t10k_images',
                 'sha256_t10k_labels', 'source_uri', 'train_examples', 'eval_examples', 'span'),
    'ModelBlessing': ('blessed', 'current_model_id', 'baseline_model_id'),
    'PushedModel': ('pushed', 'pushed_version', 'pushed_destination'),
    'InfraBlessing': ('blessed', 'latency_p50_ms', 'latency_p99_ms'),
}


class LineageError(LookupError):
  """Unknown version or artifact id; the message is one line."""


def artifact_properties(store, artifact) -> Dict[str, Any]:
  kind = runs.type_name(store, artifact)
  props = {}
  for key in _SHOWN_PROPERTIES.get(kind, ()):
    value = artifact.properties[key] if key in artifact.properties else None
    value = (getattr(value, value.WhichOneof('value')) if value is not None and value.WhichOneof('value')
             else mlmd.custom_value(artifact, key))
    if value is not None:
      props[key] = value
  return props


def find_artifact(store, key: str) -> metadata_store_pb2.Artifact:
  """A pushed version (e.g. 1795702275) or an artifact id."""
  for pushed in runs.artifacts_by_type(store, 'PushedModel'):
    if str(mlmd.custom_value(pushed, 'pushed_version')) == key and mlmd.custom_value(pushed, 'pushed'):
      return pushed
  if key.isdigit():
    found = store.get_artifacts_by_id([int(key)])
    if found:
      return found[0]
  raise LineageError(f'{key}: no pushed version and no artifact with that id in this store')


def _producer(store, artifact_id: int) -> Optional[metadata_store_pb2.Execution]:
  """The execution that made the artifact (not a later cached execution reusing it)."""
  events = store.get_events_by_artifact_ids([artifact_id])
  ids = sorted({e.execution_id for e in events if e.type == metadata_store_pb2.Event.OUTPUT})
  executions = store.get_executions_by_id(ids) if ids else []
  complete = [e for e in executions if e.last_known_state == metadata_store_pb2.Execution.COMPLETE]
  return (complete or executions or [None])[0]


def evaluation_details(store, execution) -> Dict[str, Any]:
  """The Evaluator execution's result and the gate it applied, from its ModelEvaluation."""
  for artifact in runs.artifacts_of(store, execution.id):
    if runs.type_name(store, artifact) == 'ModelEvaluation':
      return dict(dataclasses.asdict(runs.read_evaluation(artifact.uri)), evaluation_uri=artifact.uri)
  return {}


def _artifact_node(store, artifact, seen) -> Dict[str, Any]:
  kind = runs.type_name(store, artifact)
  node = {'artifact_id': artifact.id, 'type': kind, 'uri': artifact.uri,
          'state': metadata_store_pb2.Artifact.State.Name(artifact.state),
          'properties': artifact_properties(store, artifact)}
  if artifact.id in seen:
    node['see_above'] = True
    return node
  seen.add(artifact.id)
  execution = _producer(store, artifact.id)
  if execution is None:
    return node
  producer = {'execution_id': execution.id, 'component': runs.node_id(store, execution.id),
              'state': metadata_store_pb2.Execution.State.Name(execution.last_known_state),
              'inputs': {}}
  if producer['component'] == 'Evaluator' or kind in ('ModelBlessing', 'ModelEvaluation'):
    producer['evaluation'] = evaluation_details(store, execution)
  inputs = sorted((event.path.steps[0].key if event.path.steps else 'input', event.artifact_id)
                  for event in store.get_events_by_execution_ids([execution.id])
                  if event.type in (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT))
  for key, artifact_id in inputs:  # in the order render() prints them, so "see above" is right
    [upstream] = store.get_artifacts_by_id([artifact_id])
    producer['inputs'].setdefault(key, []).append(_artifact_node(store, upstream, seen))
  node['produced_by'] = producer
  return node


def lineage(store, key: str) -> Dict[str, Any]:
  return _artifact_node(store, find_artifact(store, key), set())


def list_artifacts(store, kind: Optional[str] = None, run_id: Optional[str] = None) -> List[Dict[str, Any]]:
  """Artifacts (of one type, of one run) with the properties that matter, oldest first."""
  if run_id:
    matches = [c for c in runs.runs(store) if c.name == run_id]
    if not matches:
      raise LookupError(f'{run_id}: no run with that id (see `runs`)')
    artifacts = store.get_artifacts_by_context(matches[0].id)
  else:
    artifacts = store.get_artifacts()
  items = []
  for artifact in sorted(artifacts, key=lambda a: a.id):
    artifact_kind = runs.type_name(store, artifact)
    if kind and artifact_kind != kind:
      continue
    props = artifact_properties(store, artifact)
    if artifact_kind == 'ModelEvaluation':
      evaluation = runs.read_evaluation(artifact.uri)
      props.update(accuracy=evaluation.accuracy, baseline_accuracy=evaluation.baseline_accuracy)
    items.append({'id': artifact.id, 'type': artifact_kind, 'uri': artifact.uri,
                  'state': metadata_store_pb2.Artifact.State.Name(artifact.state), 'properties': props})
  return items
