"""Lineage of one artifact, walked upstream through ML Metadata: PushedModel ← Pusher ← Model ←
Trainer ← Examples ← MnistExampleGen (with the source files' digests), and ModelBlessing ←
Evaluator (with its metrics, thresholds and the baseline it was compared with)."""
import json
from typing import Any, Dict, List, Optional

from ml_metadata.proto import metadata_store_pb2

from pipeline.metadata import runs

_SHOWN_PROPERTIES = {
    'Examples': ('split_names', 'sha256_train_images', 'sha256_train_labels', 'sha256_t10k_images',
                 'sha256_t10k_labels', 'source_uri', 'train_examples', 'eval_examples', 'span'),
    'ModelBlessing': ('blessed', 'current_model_id', 'baseline_model_id'),
    'PushedModel': ('pushed', 'pushed_version', 'pushed_destination'),
}


class LineageError(LookupError):
  """Unknown version or artifact id; the message is one line."""


def artifact_properties(store, artifact) -> Dict[str, Any]:
  kind = runs.type_name(store, artifact)
  props = {}
  for key in _SHOWN_PROPERTIES.get(kind, ()):
    value = artifact.properties[key] if key in artifact.properties else None
    value = (getattr(value, value.WhichOneof('value')) if value is not None and value.WhichOneof('value')
             else runs.custom(artifact, key))
    if value is not None:
      props[key] = value
  return props


def find_artifact(store, key: str) -> metadata_store_pb2.Artifact:
  """A pushed version (e.g. 1795702275) or an artifact id."""
  for pushed in runs.artifacts_by_type(store, 'PushedModel'):
    if str(runs.custom(pushed, 'pushed_version')) == key and runs.custom(pushed, 'pushed'):
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
  details = {}
  for artifact in runs.artifacts_of(store, execution.id):
    if runs.type_name(store, artifact) == 'ModelEvaluation':
      accuracy, baseline, failures = runs.read_evaluation(artifact.uri)
      details.update(accuracy=accuracy, baseline_accuracy=baseline, failures=failures,
                     evaluation_uri=artifact.uri)
  eval_config = execution.custom_properties.get('eval_config')
  if eval_config is not None and eval_config.string_value:
    for spec in json.loads(eval_config.string_value).get('metrics_specs', []):
      for metric in spec.get('metrics', []):
        if metric.get('class_name') == 'SparseCategoricalAccuracy' and 'threshold' in metric:
          threshold = metric['threshold']
          details['lower_bound'] = threshold.get('value_threshold', {}).get('lower_bound')
          change = threshold.get('change_threshold')
          if change:
            details['change_threshold'] = {'absolute': change.get('absolute'),
                                           'direction': change.get('direction')}
  return details


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


def _describe(node) -> str:
  props = node['properties']
  text = f"{node['type']} #{node['artifact_id']} {node['uri']}"
  if node['type'] == 'PushedModel' and 'pushed_version' in props:
    text += f" (version {props['pushed_version']})"
  if node['type'] == 'ModelBlessing' and 'blessed' in props:
    text += ' (blessed)' if props['blessed'] else ' (NOT blessed)'
  return text


def render(node, indent: str = '') -> List[str]:
  """Readable tree, one fact per line."""
  lines = [f'{indent}{_describe(node)}']
  if node.get('see_above'):
    lines[-1] += '  (see above)'
    return lines
  props = node['properties']
  for key, value in props.items():
    if key.startswith('sha256_'):
      lines.append(f"{indent}    {key[len('sha256_'):].replace('_', '-')} sha256 {value}")
  if node['type'] == 'Examples':
    for key in ('source_uri', 'train_examples', 'eval_examples'):
      if key in props:
        lines.append(f'{indent}    {key}: {props[key]}')
  producer = node.get('produced_by')
  if not producer:
    return lines
  lines.append(f"{indent}  ← {producer['component']} (execution {producer['execution_id']}, "
               f"{producer['state']})")
  evaluation = producer.get('evaluation')
  if evaluation:
    if evaluation.get('accuracy') is not None:
      baseline = (f", baseline {evaluation['baseline_accuracy']:.4f}"
                  if evaluation.get('baseline_accuracy') is not None else ', no baseline')
      lines.append(f"{indent}      accuracy {evaluation['accuracy']:.4f}{baseline}")
    if evaluation.get('lower_bound') is not None:
      lines.append(f"{indent}      threshold: accuracy ≥ {evaluation['lower_bound']}"
                   + (f", change ≥ {evaluation['change_threshold']['absolute']} vs baseline"
                      if evaluation.get('change_threshold') else ''))
    for failure in evaluation.get('failures', []):
      lines.append(f'{indent}      failed: {failure}')
  for key, upstream in producer['inputs'].items():
    for child in upstream:
      sub = render(child, indent + '      ')
      sub[0] = f"{indent}    {key}: {sub[0].lstrip()}"
      lines.extend(sub)
  return lines
