"""Lineage of one artifact, walked upstream through ML Metadata: PushedModel ← Pusher ← Model ←
Trainer ← Examples ← MnistExampleGen (with the source files' digests), and ModelBlessing ←
Evaluator (with its metrics, thresholds and the baseline it was compared with). What lies
upstream comes from ML Metadata's own graph query (get_lineage_subgraph), in one call for a
run's whole pipeline, rather than from a query per artifact and per execution."""

import dataclasses
import os
from typing import Any, Dict, List, Optional, Set, Tuple

from ml_metadata.proto import metadata_store_pb2

from components.lib import mlmd, names
from components.lib.evaluation_result import read_evaluation
from inspection import runs

_SHOWN_PROPERTIES = {
  'Examples': (
    'dataset',
    'split_names',
    'sha256_train_images',
    'sha256_train_labels',
    'sha256_t10k_images',
    'sha256_t10k_labels',
    'sha256_train_csv',
    'sha256_test_csv',
    'manifest_sha256',
    'source_uri',
    'train_examples',
    'eval_examples',
    'span',
  ),
  'ModelBlessing': ('blessed', 'current_model_id', 'baseline_model_id'),
  'PushedModel': ('pushed', 'pushed_version', 'pushed_destination'),
  'InfraBlessing': ('blessed', 'latency_p50_ms', 'latency_p99_ms'),
  'InferenceResult': (names.PREDICTED_ROWS, names.NOT_BLESSED_NOTE),
}

_Event = metadata_store_pb2.Event
_Query = metadata_store_pb2.LineageSubgraphQueryOptions
# A hop is artifact → execution or execution → artifact: 20 reach 10 artifacts up, more than a
# run and the baseline it compared with have. Even, so every execution returned had its inputs
# followed; an artifact at the limit is continued from by another query.
_MAX_HOPS = 20
_READ_MASK = [
  'artifacts',
  'artifact_types',
  'executions',
  'contexts',
  'context_types',
  'events',
  'associations',
]
_INPUTS = (_Event.INPUT, _Event.DECLARED_INPUT)  # an execution's inputs, as the tree shows them
# The events an UPSTREAM hop follows (ML Metadata's FilterEventsByDirectionAndEventType).
_UPSTREAM_FROM_ARTIFACT = (
  _Event.OUTPUT,
  _Event.DECLARED_OUTPUT,
  _Event.INTERNAL_OUTPUT,
  _Event.PENDING_OUTPUT,
)
_UPSTREAM_FROM_EXECUTION = (_Event.INPUT, _Event.DECLARED_INPUT, _Event.INTERNAL_INPUT)


class LineageError(LookupError):
  """Unknown version or artifact id; the message is one line."""


def _properties(artifact, kind: str) -> Dict[str, Any]:
  props = {}
  for key in _SHOWN_PROPERTIES.get(kind, ()):
    value = artifact.properties[key] if key in artifact.properties else None
    value = (
      getattr(value, value.WhichOneof('value'))
      if value is not None and value.WhichOneof('value')
      else mlmd.custom_value(artifact, key)
    )
    if value is not None:
      props[key] = value
  return props


def artifact_properties(store, artifact) -> Dict[str, Any]:
  return _properties(artifact, runs.type_name(store, artifact))


def _holding(store, path: str) -> Optional[metadata_store_pb2.Artifact]:
  """The artifact whose folder holds the file at `path` (a run's predictions.csv, say)."""
  if not os.path.isfile(path):
    return None
  found = store.get_artifacts_by_uri(os.path.dirname(os.path.abspath(path)))
  return found[-1] if found else None


def find_artifact(store, key: str) -> metadata_store_pb2.Artifact:
  """A pushed version (e.g. 1795702275), its folder (what `inspect served --newest` prints), a
  file in an artifact (the summary's Predictions: CSV), or an artifact id."""
  holder = _holding(store, key)
  if holder is not None:
    return holder
  if '/' in key:
    key = os.path.basename(key.rstrip('/'))
  for pushed in runs.artifacts_by_type(store, 'PushedModel'):
    if str(mlmd.custom_value(pushed, names.PUSHED_VERSION)) == key and mlmd.custom_value(
      pushed, names.PUSHED
    ):
      return pushed
  artifact_id = mlmd.parse_id(key)
  if artifact_id is not None:
    found = store.get_artifacts_by_id([artifact_id])
    if found:
      return found[0]
  shown = key if key.isprintable() else repr(key)  # one line, whatever was typed
  if artifact_id is None and key.strip().lstrip('+-').isdigit():  # '-1', '²', past int64
    raise LineageError(
      f'{shown}: no pushed version, and not an artifact id (ids are whole numbers from 1 to '
      f'{mlmd.MAX_ID})'
    )
  raise LineageError(f'{shown}: no pushed version and no artifact with that id in this store')


def evaluation_details(store, execution) -> Dict[str, Any]:
  """The Evaluator execution's result and the gate it applied, from its ModelEvaluation."""
  # By hand: the ModelEvaluation is the Evaluator's output, never in an upstream subgraph.
  for artifact in runs.artifacts_of(store, execution.id):
    if runs.type_name(store, artifact) == 'ModelEvaluation':
      return dict(dataclasses.asdict(read_evaluation(artifact.uri)), evaluation_uri=artifact.uri)
  return {}


def _component(execution, node: Optional[str]) -> str:
  """As runs.node_id names it: the TFX node context, else KFP's task_name or display_name."""
  if node is not None:
    return node
  for key in ('task_name', 'display_name'):
    if key in execution.custom_properties and execution.custom_properties[key].string_value:
      return execution.custom_properties[key].string_value
  return '?'


class _Upstream:
  """What lies upstream of an artifact, as ML Metadata's graph query returns it; an artifact
  the query's hop limit stopped at is continued from by another query when the walk gets there."""

  def __init__(self, store) -> None:
    self.store = store
    self.artifacts: Dict[int, metadata_store_pb2.Artifact] = {}
    self.kinds: Dict[int, str] = {}  # artifact id -> 'Model' (also for KFP's 'tfx.Model')
    self.executions: Dict[int, metadata_store_pb2.Execution] = {}
    self.components: Dict[int, str] = {}  # execution id -> node id
    self.producers: Dict[int, Set[int]] = {}  # artifact id -> executions with an OUTPUT event
    # execution id -> {(artifact id, event type): path key} of its INPUT and DECLARED_INPUT events
    self.inputs: Dict[int, Dict[Tuple[int, int], str]] = {}
    self.followed: Set[int] = set()  # artifacts whose upstream hop the query took
    self._evaluations: Dict[int, Dict[str, Any]] = {}  # Evaluator execution id -> its details

  def evaluation(self, execution) -> Dict[str, Any]:
    """evaluation_details, read once per Evaluator (the tree meets it through its blessing and
    again through the ServingCheck's input)."""
    if execution.id not in self._evaluations:
      self._evaluations[execution.id] = evaluation_details(self.store, execution)
    return self._evaluations[execution.id]

  def artifact(self, artifact_id: int) -> metadata_store_pb2.Artifact:
    if artifact_id not in self.followed:
      self._query(artifact_id)
    return self.artifacts[artifact_id]

  def producer(self, artifact_id: int) -> Optional[metadata_store_pb2.Execution]:
    """The execution that made the artifact (not a later cached execution reusing it)."""
    # By hand: the query returns every producer (cached executions, resolvers) and picks none.
    executions = [self.executions[i] for i in sorted(self.producers.get(artifact_id, ()))]
    complete = [
      e for e in executions if e.last_known_state == metadata_store_pb2.Execution.COMPLETE
    ]
    return (complete or executions or [None])[0]

  def inputs_of(self, execution_id: int) -> List[Tuple[str, int]]:
    """(event key, artifact id), in the order render() prints them, so "see above" is right."""
    return sorted(
      (key, artifact_id) for (artifact_id, _), key in self.inputs.get(execution_id, {}).items()
    )

  def _query(self, artifact_id: int) -> None:
    query = _Query(
      starting_artifacts=_Query.StartingNodes(filter_query=f'id = {artifact_id}'),
      max_num_hops=_MAX_HOPS,
      direction=_Query.UPSTREAM,
    )
    graph = self.store.get_lineage_subgraph(query, _READ_MASK)
    kinds = {t.id: mlmd.plain_type_name(t.name) for t in graph.artifact_types}
    for artifact in graph.artifacts:
      self.artifacts[artifact.id] = artifact
      self.kinds[artifact.id] = kinds[artifact.type_id]
    node_type_ids = {t.id for t in graph.context_types if t.name == mlmd.NODE_CONTEXT_TYPE}
    nodes = {c.id: c.name.split('.', 1)[-1] for c in graph.contexts if c.type_id in node_type_ids}
    node_of: Dict[int, str] = {}  # execution id -> its node context's name
    for association in sorted(graph.associations, key=lambda a: a.context_id):
      if association.context_id in nodes:
        node_of.setdefault(association.execution_id, nodes[association.context_id])
    for execution in graph.executions:
      self.executions[execution.id] = execution
      self.components[execution.id] = _component(execution, node_of.get(execution.id))
    upstream: Dict[Tuple[str, int], List[Tuple[str, int]]] = {}  # the hops this query took
    for event in graph.events:  # the query also follows DECLARED_OUTPUT, INTERNAL_*: the tree not
      if event.type == _Event.OUTPUT:
        self.producers.setdefault(event.artifact_id, set()).add(event.execution_id)
      elif event.type in _INPUTS:
        key = event.path.steps[0].key if event.path.steps else 'input'
        self.inputs.setdefault(event.execution_id, {})[(event.artifact_id, event.type)] = key
      if event.type in _UPSTREAM_FROM_ARTIFACT:
        upstream.setdefault(('artifact', event.artifact_id), []).append(
          ('execution', event.execution_id)
        )
      elif event.type in _UPSTREAM_FROM_EXECUTION:
        upstream.setdefault(('execution', event.execution_id), []).append(
          ('artifact', event.artifact_id)
        )
    # The hop limit stops the query at the artifacts _MAX_HOPS away: they alone were not followed.
    level, reached = {('artifact', artifact_id)}, set()
    for hop in range(_MAX_HOPS):
      reached |= level
      if hop % 2 == 0:
        self.followed.update(node for _, node in level)
      level = {up for node in level for up in upstream.get(node, ()) if up not in reached}


def _artifact_node(graph: _Upstream, artifact_id: int, seen: Set[int]) -> Dict[str, Any]:
  artifact = graph.artifact(artifact_id)
  kind = graph.kinds[artifact_id]
  node = {
    'artifact_id': artifact.id,
    'type': kind,
    'uri': artifact.uri,
    'state': metadata_store_pb2.Artifact.State.Name(artifact.state),
    'properties': _properties(artifact, kind),
  }
  if artifact.id in seen:
    node['see_above'] = True
    return node
  seen.add(artifact.id)
  execution = graph.producer(artifact.id)
  if execution is None:
    return node
  producer = {
    'execution_id': execution.id,
    'component': graph.components[execution.id],
    'state': metadata_store_pb2.Execution.State.Name(execution.last_known_state),
    'inputs': {},
  }
  if producer['component'] == names.EVALUATOR or kind in ('ModelBlessing', 'ModelEvaluation'):
    producer['evaluation'] = graph.evaluation(execution)
  for key, upstream_id in graph.inputs_of(execution.id):
    producer['inputs'].setdefault(key, []).append(_artifact_node(graph, upstream_id, seen))
  node['produced_by'] = producer
  return node


def lineage(store, key: str) -> Dict[str, Any]:
  return _artifact_node(_Upstream(store), find_artifact(store, key).id, set())


def list_artifacts(
  store, kind: Optional[str] = None, run_id: Optional[str] = None
) -> List[Dict[str, Any]]:
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
    props = _properties(artifact, artifact_kind)
    if artifact_kind == 'ModelEvaluation':
      evaluation = read_evaluation(artifact.uri)
      props.update(accuracy=evaluation.accuracy, baseline_accuracy=evaluation.baseline_accuracy)
    items.append(
      {
        'id': artifact.id,
        'type': artifact_kind,
        'uri': artifact.uri,
        'state': metadata_store_pb2.Artifact.State.Name(artifact.state),
        'properties': props,
      }
    )
  return items
