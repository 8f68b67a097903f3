"""lineage() reads what lies upstream with ML Metadata's own graph query (get_lineage_subgraph)
and answers exactly as the previous walk, a query per artifact and per execution, did: on the
recorded two runs, and on stores built here through ML Metadata's API (a diamond with cached
executions reusing artifacts, several producers of one artifact, a chain deeper than the query's
hop limit, Kubeflow's spelling of types, contexts and node names)."""

import collections
import json
import os
from typing import Any, Dict, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as mlmd

from components.lib import mlmd as mlmd_ids
from components.lib.mlmd import custom_value
from inspection import lineage, render, runs
from tests.conftest import REPO

VERSION = '1796669091'  # the version the recorded run 1 pushed
EVALUATIONS = os.path.join(
  REPO, 'tests', 'inspection', 'fixtures', 'two_runs', 'pipeline_root', 'Evaluator', 'evaluation'
)  # TFMA's own files, as the Evaluator wrote

# --- The oracle.


def _old_producer(store, artifact_id):
  events = store.get_events_by_artifact_ids([artifact_id])
  ids = sorted({e.execution_id for e in events if e.type == mlmd.Event.OUTPUT})
  executions = store.get_executions_by_id(ids) if ids else []
  complete = [e for e in executions if e.last_known_state == mlmd.Execution.COMPLETE]
  return (complete or executions or [None])[0]


def _old_artifact_node(store, artifact, seen):
  kind = runs.type_name(store, artifact)
  node = {
    'artifact_id': artifact.id,
    'type': kind,
    'uri': artifact.uri,
    'state': mlmd.Artifact.State.Name(artifact.state),
    'properties': lineage.artifact_properties(store, artifact),
  }
  if artifact.id in seen:
    node['see_above'] = True
    return node
  seen.add(artifact.id)
  execution = _old_producer(store, artifact.id)
  if execution is None:
    return node
  producer = {
    'execution_id': execution.id,
    'component': runs.node_id(store, execution.id),
    'state': mlmd.Execution.State.Name(execution.last_known_state),
    'inputs': {},
  }
  if producer['component'] == 'Evaluator' or kind in ('ModelBlessing', 'ModelEvaluation'):
    producer['evaluation'] = lineage.evaluation_details(store, execution)
  inputs = sorted(
    (event.path.steps[0].key if event.path.steps else 'input', event.artifact_id)
    for event in store.get_events_by_execution_ids([execution.id])
    if event.type in (mlmd.Event.INPUT, mlmd.Event.DECLARED_INPUT)
  )
  for key, artifact_id in inputs:
    [upstream] = store.get_artifacts_by_id([artifact_id])
    producer['inputs'].setdefault(key, []).append(_old_artifact_node(store, upstream, seen))
  node['produced_by'] = producer
  return node


def _old_lineage_walk(store, key):
  """The previous implementation of lineage() (events and executions queried by hand, artifact
  by artifact), kept here only as the reference the graph query must agree with."""
  return _old_artifact_node(store, lineage.find_artifact(store, key), set())


def assert_same_as_the_old_walk(store, keys):
  for key in keys:
    new, old = lineage.lineage(store, key), _old_lineage_walk(store, key)
    assert json.dumps(new, default=str) == json.dumps(old, default=str), key  # key order too
    assert render.lineage_lines(new) == render.lineage_lines(old)


def every_key(store):
  pushed = [
    str(custom_value(a, 'pushed_version'))
    for a in runs.artifacts_by_type(store, 'PushedModel')
    if custom_value(a, 'pushed')
  ]
  return pushed + [str(a.id) for a in store.get_artifacts()]


# --- Stores built through ML Metadata's API, as local TFX and the Kubeflow launcher record.


class _Recorder:
  """Writes artifacts, executions and events into a new SQLite store, with local TFX's names
  ('Model', 'node' contexts) or Kubeflow's ('tfx.Model', task_name, system.PipelineRun)."""

  def __init__(self, path, kfp: bool = False):
    config = mlmd.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    self.store = metadata_store.MetadataStore(config)
    self.kfp = kfp
    self.types: Dict[Tuple[str, str], int] = {}
    self.nodes: Dict[str, Any] = {}  # node name: its mlmd.Context
    pipeline = 'system.Pipeline' if kfp else 'pipeline'
    self.pipeline = self._context(pipeline, 'mnist-tfx')

  def _type_id(self, kind, name):
    if (kind, name) not in self.types:
      put = {
        'artifact': (self.store.put_artifact_type, mlmd.ArtifactType),
        'execution': (self.store.put_execution_type, mlmd.ExecutionType),
        'context': (self.store.put_context_type, mlmd.ContextType),
      }[kind]
      self.types[kind, name] = put[0](put[1](name=name))
    return self.types[kind, name]

  def _context(self, type_name, name):
    [context_id] = self.store.put_contexts(
      [mlmd.Context(type_id=self._type_id('context', type_name), name=name)]
    )
    return mlmd.Context(id=context_id, type_id=self._type_id('context', type_name), name=name)

  def run(self, name):
    return self._context('system.PipelineRun' if self.kfp else 'pipeline_run', name)

  def artifact(self, kind, uri='', **custom):
    name = kind if kind.startswith('system.') or not self.kfp else f'tfx.{kind}'
    artifact = mlmd.Artifact(
      type_id=self._type_id('artifact', name), uri=uri, state=mlmd.Artifact.LIVE
    )
    for key, value in custom.items():
      field = {int: 'int_value', float: 'double_value', str: 'string_value'}[type(value)]
      setattr(artifact.custom_properties[key], field, value)
    [artifact_id] = self.store.put_artifacts([artifact])
    return artifact_id

  def execution(self, node, run, state='COMPLETE', inputs=(), outputs=(), kind=None, named=True):
    """inputs, outputs: (key or None, artifact id[, event type])."""
    kind = kind or ('system.ContainerExecution' if self.kfp else f'tfx.{node}')
    execution = mlmd.Execution(
      type_id=self._type_id('execution', kind), last_known_state=mlmd.Execution.State.Value(state)
    )
    contexts = [self.pipeline, run]
    if named and self.kfp:
      for key in ('task_name', 'display_name'):
        execution.custom_properties[key].string_value = node
    elif named:
      contexts.append(self._node(node))
    pairs = []
    for default, events in ((mlmd.Event.INPUT, inputs), (mlmd.Event.OUTPUT, outputs)):
      for key, artifact_id, *event_type in events:
        event = mlmd.Event(type=event_type[0] if event_type else default)
        if key is not None:
          event.path.steps.add().key = key
          event.path.steps.add().index = 0
        [artifact] = self.store.get_artifacts_by_id([artifact_id])
        pairs.append((artifact, event))
    execution_id, _, _ = self.store.put_execution(
      execution, pairs, contexts, reuse_context_if_already_exist=True
    )
    return execution_id

  def _node(self, node):
    if node not in self.nodes:
      self.nodes[node] = self._context('node', f'mnist-tfx.{node}')
    return self.nodes[node]


def _two_runs(recorder):
  """Run 1 blessed and pushed; run 2 reuses run 1's Examples and Model from cached executions,
  resolves run 1's Model and blessing as its baseline and is refused; then the odd cases."""
  r, store = recorder, recorder.store
  logs = {'executor-logs': r.artifact('system.Artifact', '/logs')} if r.kfp else {}
  run1 = r.run('run-1')
  if r.kfp:  # Kubeflow's record of the run itself, created before its tasks
    r.execution('run/run-1', run1, kind='system.DAGExecution', named=False)
  examples = r.artifact(
    'Examples',
    '/p/examples/1',
    sha256_train_images='ab' * 32,
    source_uri='/mnist',
    train_examples=3000,
    eval_examples=1000,
  )
  r.execution('MnistExampleGen', run1, outputs=[('examples', examples)])
  model, model_run = r.artifact('Model', '/p/model/2'), r.artifact('ModelRun', '/p/model_run/2')
  r.execution(
    'Trainer',
    run1,
    inputs=[('examples', examples)],
    outputs=[('model', model), ('model_run', model_run)],
  )
  evaluation = r.artifact('ModelEvaluation', os.path.join(EVALUATIONS, '8'))
  blessing = r.artifact('ModelBlessing', '/p/blessing/3', blessed=1, current_model_id=model)
  r.execution(
    'Evaluator',
    run1,
    inputs=[('examples', examples), ('model', model)],
    outputs=[('evaluation', evaluation), ('blessing', blessing)],
  )
  pushed = r.artifact(
    'PushedModel', '/p/pushed/4', pushed=1, pushed_version='100', pushed_destination='/serving/100'
  )
  r.execution(
    'Pusher',
    run1,
    inputs=[('model', model), ('model_blessing', blessing)],
    outputs=[('pushed_model', pushed)] + [(k, v) for k, v in logs.items()],
  )

  run2 = r.run('run-2')
  if r.kfp:
    r.execution('run/run-2', run2, kind='system.DAGExecution', named=False)
    # KFP's resolver task outputs the baseline it found: a later COMPLETE producer of the Model.
    r.execution(
      'LatestBlessedModel',
      run2,
      outputs=[('model', model), ('blessing', blessing)],
      kind='system.ResolverExecution',
    )
  else:  # TFX's resolver records what it resolved as INTERNAL_OUTPUT
    r.execution(
      'LatestBlessedModelResolver',
      run2,
      outputs=[
        ('model', model, mlmd.Event.INTERNAL_OUTPUT),
        ('model_blessing', blessing, mlmd.Event.INTERNAL_OUTPUT),
      ],
    )
  r.execution('MnistExampleGen', run2, 'CACHED', outputs=[('examples', examples)])
  r.execution(
    'Trainer',
    run2,
    'CACHED',
    inputs=[('examples', examples)],
    outputs=[('model', model), ('model_run', model_run)],
  )
  evaluation2 = r.artifact('ModelEvaluation', os.path.join(EVALUATIONS, '18'))
  blessing2 = r.artifact('ModelBlessing', '/p/blessing/8', blessed=0)
  r.execution(
    'Evaluator',
    run2,
    inputs=[('model', model), ('examples', examples)],
    outputs=[('evaluation', evaluation2), ('blessing', blessing2)],
  )
  refused = r.artifact('PushedModel', '/p/pushed/9', pushed=0)
  r.execution(
    'Pusher',
    run2,
    inputs=[('model', model), ('model_blessing', blessing2)],
    outputs=[('pushed_model', refused)],
  )

  odd = r.run('run-odd')
  # Several producers: a FAILED one first, then the COMPLETE one (which wins), then a CACHED one.
  retried = r.artifact('Examples', '/p/retried')
  r.execution('MnistExampleGen', odd, 'FAILED', outputs=[('examples', retried)])
  r.execution('MnistExampleGen', odd, outputs=[('examples', retried)])
  r.execution('MnistExampleGen', odd, 'CACHED', outputs=[('examples', retried)])
  only_cached = r.artifact('Model', '/p/only-cached')  # no COMPLETE producer: the lowest id
  r.execution(
    'Trainer', odd, 'CACHED', inputs=[('examples', retried)], outputs=[('model', only_cached)]
  )
  r.execution(
    'Trainer', odd, 'RUNNING', inputs=[('examples', examples)], outputs=[('model', only_cached)]
  )
  declared = r.artifact('Model', '/p/declared')  # a DECLARED_OUTPUT is no producer to the tree
  r.execution('Trainer', odd, outputs=[('model', declared, mlmd.Event.DECLARED_OUTPUT)])
  # One execution: the same artifact read as INPUT and as DECLARED_INPUT (two entries), an event
  # without a path ('input'), an INTERNAL_INPUT (not shown), a node without a name ('?').
  mixed = r.artifact('PushedModel', '/p/mixed', pushed=1, pushed_version='300')
  r.execution(
    'Pusher',
    odd,
    named=False,
    inputs=[
      ('model', only_cached),
      ('model', only_cached, mlmd.Event.DECLARED_INPUT),
      (None, declared),
      ('zzz', blessing, mlmd.Event.INTERNAL_INPUT),
      ('blessing', blessing2),
    ],
    outputs=[('pushed_model', mixed)],
  )
  # A chain 15 artifacts deep, more than one query's hops reach, ending in the recorded Model.
  upstream = model
  for step in range(15):
    made = r.artifact('Model', f'/p/chain/{step}')
    r.execution('Trainer', odd, inputs=[('base_model', upstream)], outputs=[('model', made)])
    upstream = made
  top = r.artifact('PushedModel', '/p/chain/top', pushed=1, pushed_version='400')
  r.execution('Pusher', odd, inputs=[('model', upstream)], outputs=[('pushed_model', top)])
  if r.kfp:  # a DAG execution that recorded an output before the task that made it
    by_dag = r.artifact('Model', '/p/by-dag')
    r.execution(
      'run/run-odd', odd, outputs=[('model', by_dag)], kind='system.DAGExecution', named=False
    )
    r.execution('Trainer', odd, inputs=[('examples', examples)], outputs=[('model', by_dag)])
  # A loop: an execution that reads what it writes.
  looped = r.artifact('Examples', '/p/loop')
  r.execution('MnistExampleGen', odd, inputs=[('examples', looped)], outputs=[('examples', looped)])
  return store


# --- The tests.


def test_the_lineage_module_tested_is_this_checkout_s():
  assert lineage.__file__ == os.path.join(REPO, 'inspection', 'lineage.py')


def test_on_the_recorded_runs_the_same_answer_for_every_artifact(recorded):
  _, store = recorded
  keys = every_key(store)
  assert VERSION in keys and len(keys) > 9
  assert_same_as_the_old_walk(store, keys)


@pytest.mark.parametrize('kfp', [False, True], ids=['local TFX', 'Kubeflow'])
def test_on_built_stores_the_same_answer_for_every_artifact(tmp_path, kfp):
  store = _two_runs(_Recorder(tmp_path / 'metadata.sqlite', kfp=kfp))
  assert_same_as_the_old_walk(store, every_key(store))
  tree = lineage.lineage(store, '100')
  assert tree['produced_by']['component'] == 'Pusher'
  [model] = tree['produced_by']['inputs']['model']
  assert model['type'] == 'Model'
  assert (model['produced_by']['component'], model['produced_by']['state']) == (
    'Trainer',
    'COMPLETE',
  )  # the execution that made it, not the cached one or the resolver
  components, node = [], lineage.lineage(store, '400')
  while node.get('produced_by'):
    components.append(node['produced_by']['component'])
    [[node]] = node['produced_by']['inputs'].values() or [[{}]]
  assert components == ['Pusher'] + ['Trainer'] * 16 + ['MnistExampleGen']


@pytest.mark.parametrize('hops', [2, 4])
def test_a_small_hop_limit_continues_with_more_queries(tmp_path, monkeypatch, recorded, hops):
  """Whatever the limit, an artifact the query stopped at is followed further by another."""
  monkeypatch.setattr(lineage, '_MAX_HOPS', hops)
  _, recorded_store = recorded
  assert_same_as_the_old_walk(recorded_store, every_key(recorded_store))
  for kfp in (False, True):
    store = _two_runs(_Recorder(tmp_path / f'{kfp}.sqlite', kfp=kfp))
    assert_same_as_the_old_walk(store, every_key(store))


class _Counting:
  """A store that counts the calls made to it."""

  def __init__(self, store):
    self.store, self.calls = store, collections.Counter()

  def __getattr__(self, name):
    self.calls[name] += 1
    return getattr(self.store, name)


def test_the_upstream_is_one_graph_query(recorded):
  _, store = recorded
  counting = _Counting(store)
  lineage.lineage(counting, VERSION)
  assert counting.calls['get_lineage_subgraph'] == 1
  assert not counting.calls['get_events_by_artifact_ids']
  assert counting.calls['get_events_by_execution_ids'] == 1  # the Evaluator's outputs, by hand


KEYS = st.one_of(
  st.integers(-(2**65), 2**65).map(str),
  st.sampled_from(['²', '١', '0', '007', ' 5', '+1', '9223372036854775808', VERSION, '1']),
  st.text(max_size=20),
)


@settings(
  max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(key=KEYS)
def test_any_lineage_key_is_an_artifact_or_one_line(recorded, key):
  """What `inspect lineage KEY` takes: a version, its folder or an artifact id that ML Metadata
  can hold; anything else (a sign, '²', past int64) is one line, never a traceback."""
  _, store = recorded
  try:
    found = lineage.find_artifact(store, key)
  except lineage.LineageError as e:
    assert '\n' not in str(e)
    name = os.path.basename(key.rstrip('/')) if '/' in key else key  # a folder: its name
    if mlmd_ids.parse_id(name) is None and name.strip().lstrip('+-').isdigit():
      assert str(e).endswith(f'not an artifact id (ids are whole numbers from 1 to {2**63 - 1})')
    else:
      assert str(e).endswith('no pushed version and no artifact with that id in this store')
  else:
    assert found.id >= 1


def test_an_id_past_what_ml_metadata_holds_is_named_with_the_range(recorded, capsys):
  from inspection import cli

  output_dir, _ = recorded
  for key in ('9223372036854775808', '²', '-1'):
    assert cli.main(['--output-dir', output_dir, 'lineage', key]) == 1
    assert capsys.readouterr().err == (
      f'error: {key}: no pushed version, and not an artifact id (ids are whole numbers from 1 to '
      '9223372036854775807)\n'
    )
