"""Reads runs back from ML Metadata: what ran, for how long, what was blessed, what was pushed,
and whether a run is still going or was interrupted (its process is gone)."""

import dataclasses
import datetime
import json
from typing import Any, Dict, List, Optional

from ml_metadata import errors
from ml_metadata.proto import metadata_store_pb2

from components.lib import artifact_files, mlmd, names
from components.lib.evaluation_result import read_evaluation
from inspection import provenance, settings
from pipeline import store as store_lib
from pipeline.local import run_record

# Nothing on this read path imports TFX, TFMA or TensorFlow (seconds of imports for a table):
# tests/inspection/test_fast_read_path.py checks it.


_STATES = {v: k for k, v in metadata_store_pb2.Execution.State.items()}
OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
_INPUT_EVENTS = (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT)


# A local run's pipeline_run context carries who runs it and how it ended (pipeline/local/
# run_record.py), so that a reader can tell a run still going from one whose process was killed.
RUN_STATE, RUNNING, COMPLETE, FAILED, INTERRUPTED = (
  run_record.RUN_STATE,
  run_record.RUNNING,
  run_record.COMPLETE,
  run_record.FAILED,
  run_record.INTERRUPTED,
)
_RUNNER_KEYS = (
  run_record.RUNNER_PID,
  run_record.RUNNER_HOST,
  run_record.RUNNER_STARTED,
  run_record.RUNNER_START_TICKS,
)
_NOT_FINAL = ('NEW', 'RUNNING', 'UNKNOWN')  # execution states of a component not yet ended


@dataclasses.dataclass
class RunSummary:
  run_id: str
  started: str = ''  # ISO time the run was recorded
  # running | complete (every component ended well, blessed or not) | failed | interrupted (its
  # process ended mid-run: killed, Ctrl-C) | '' (unknown)
  state: str = ''
  component_states: Dict[str, str] = dataclasses.field(default_factory=dict)  # COMPLETE, CACHED…
  component_seconds: Dict[str, float] = dataclasses.field(default_factory=dict)
  accuracy: Optional[float] = None
  baseline_accuracy: Optional[float] = None
  blessed: Optional[bool] = None
  failures: List[str] = dataclasses.field(default_factory=list)  # why not blessed
  servable: Optional[bool] = None  # the ServingCheck's verdict (None: it did not run)
  serving_failures: List[str] = dataclasses.field(default_factory=list)  # why not servable
  serving_latency_ms: Dict[str, float] = dataclasses.field(default_factory=dict)  # p50_ms, p99_ms
  pushed_version: Optional[str] = None  # a version this run wrote
  pushed_dir: Optional[str] = None  # that version's dir, or the one already serving this model
  already_serving: Optional[str] = None  # nothing new pushed: this version serves the model
  artifacts: Dict[str, int] = dataclasses.field(default_factory=dict)  # type name -> artifact id
  uris: Dict[str, str] = dataclasses.field(default_factory=dict)  # type name -> URI
  runner: Dict[str, Any] = dataclasses.field(default_factory=dict)  # pid, host of local_runner.py
  settings: Dict[str, Any] = dataclasses.field(default_factory=dict)  # inspection.settings
  # versions, git_commit, machine, total_seconds (inspection.provenance); {} if unrecorded
  provenance: Dict[str, Any] = dataclasses.field(default_factory=dict)
  # --infer-dir: the predictions CSV the PredictionsWriter wrote, or why it wrote none
  predictions: Optional[str] = None
  predictions_note: Optional[str] = None

  @property
  def model_uri(self) -> Optional[str]:
    return self.uris.get('Model')

  def to_json(self) -> dict:
    return dataclasses.asdict(self)


def iso(ms: int) -> str:
  return datetime.datetime.fromtimestamp(ms / 1000).isoformat(timespec='seconds')


# Local TFX runs and Kubeflow (KFP v2 launcher) name things differently in ML Metadata.
RUN_CONTEXT_TYPES = mlmd.RUN_CONTEXT_TYPES
DAG_EXECUTION_TYPES = ('system.DAGExecution',)


def type_name(store, artifact) -> str:
  """'Model' for both a local run's 'Model' and KFP's 'tfx.Model'."""
  return mlmd.plain_type_name(store.get_artifact_types_by_id([artifact.type_id])[0].name)


def artifacts_by_type(store, name: str) -> List[metadata_store_pb2.Artifact]:
  return [a for kind in mlmd.type_names(name) for a in store.get_artifacts_by_type(kind)]


def node_id(store, execution_id: int) -> str:
  for context in store.get_contexts_by_execution(execution_id):
    if store.get_context_types_by_id([context.type_id])[0].name == 'node':
      return context.name.split('.', 1)[-1]
  [execution] = store.get_executions_by_id([execution_id])
  for key in ('task_name', 'display_name'):  # KFP v2
    if key in execution.custom_properties and execution.custom_properties[key].string_value:
      return execution.custom_properties[key].string_value
  return '?'


def artifacts_of(
  store, execution_id: int, outputs: bool = True
) -> List[metadata_store_pb2.Artifact]:
  kinds = OUTPUT_EVENTS if outputs else _INPUT_EVENTS
  events = store.get_events_by_execution_ids([execution_id])
  ids = [e.artifact_id for e in events if e.type in kinds]
  return store.get_artifacts_by_id(ids) if ids else []


def run_state(
  recorded: Optional[str], runner: Dict[str, Any], component_states: Dict[str, str]
) -> str:
  """The rule: what the runner recorded at its end wins; a run it never ended is running while
  its process lives and interrupted once that is gone; without a recorded runner (older runs,
  Kubeflow) the components' states decide."""
  if recorded and recorded != RUNNING:
    return recorded
  alive = run_record.process_alive(runner)
  if alive is not None:
    return RUNNING if alive else INTERRUPTED
  states = set(component_states.values())
  if 'FAILED' in states:
    return FAILED
  if states & set(_NOT_FINAL) or recorded == RUNNING:
    return RUNNING
  return COMPLETE if states else ''


def summarize_run(store, run: metadata_store_pb2.Context) -> RunSummary:
  summary = RunSummary(run_id=run.name, started=iso(run.create_time_since_epoch))
  dag_types = {t.id for t in store.get_execution_types() if t.name in DAG_EXECUTION_TYPES}
  by_node = {}
  for execution in sorted(store.get_executions_by_context(run.id), key=lambda e: e.id):
    if execution.type_id in dag_types:  # KFP's record of the run itself, not a component
      continue
    node = node_id(store, execution.id)
    by_node[node] = execution
    summary.component_states[node] = _STATES.get(execution.last_known_state, '?')
    summary.component_seconds[node] = round(
      (execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000, 1
    )
    for artifact in artifacts_of(store, execution.id):
      kind = type_name(store, artifact)
      if kind == 'Model' and node != names.TRAINER:  # KFP's LatestBlessedModel outputs the baseline
        continue
      if node == names.PREDICTIONS_WRITER:  # an InferenceResult too, the BulkInferrer's beside it
        summary.predictions_note = mlmd.custom_value(artifact, names.NOT_BLESSED_NOTE)
        if summary.predictions_note is None:
          summary.predictions = artifact_files.join(artifact.uri, names.PREDICTIONS_FILE)
        continue
      if kind.startswith('system.'):  # KFP's own outputs (each task's executor-logs), not the run's
        continue
      summary.artifacts[kind] = artifact.id
      summary.uris[kind] = artifact.uri
      if kind == 'ModelEvaluation':
        try:
          evaluation = read_evaluation(artifact.uri)
          summary.accuracy, summary.baseline_accuracy, summary.failures = (
            evaluation.accuracy,
            evaluation.baseline_accuracy,
            evaluation.failures,
          )
        except Exception as e:  # noqa: BLE001  # one unreadable run is not fatal
          summary.failures = [
            f'evaluation at {artifact.uri} unreadable '
            f'({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""})'
          ]
      elif kind == 'ModelBlessing':
        blessed = mlmd.custom_value(artifact, names.BLESSED)
        summary.blessed = None if blessed is None else bool(blessed)
      elif kind == 'InfraBlessing':
        servable = mlmd.custom_value(artifact, names.BLESSED)
        summary.servable = None if servable is None else bool(servable)
        summary.serving_failures = json.loads(mlmd.custom_value(artifact, names.REASONS) or '[]')
        latency = {
          'p50_ms': mlmd.custom_value(artifact, names.LATENCY_P50_MS),
          'p99_ms': mlmd.custom_value(artifact, names.LATENCY_P99_MS),
        }
        summary.serving_latency_ms = {k: v for k, v in latency.items() if v is not None}
      elif kind == 'PushedModel':
        pushed = mlmd.custom_value(artifact, names.PUSHED)
        version = mlmd.custom_value(artifact, names.PUSHED_VERSION)
        if pushed and summary.component_states[node] != 'CACHED':
          summary.pushed_version = str(version)
        elif pushed:  # a cached Pusher wrote nothing this time
          summary.already_serving = str(version)
        elif mlmd.custom_value(artifact, names.ALREADY_SERVING):
          summary.already_serving = str(mlmd.custom_value(artifact, names.ALREADY_SERVING))
        if pushed or summary.already_serving:
          summary.pushed_dir = mlmd.custom_value(artifact, names.PUSHED_DESTINATION)
  runner = {key: mlmd.custom_value(run, key) for key in _RUNNER_KEYS}
  pid, host = runner[run_record.RUNNER_PID], runner[run_record.RUNNER_HOST]
  summary.runner = {'pid': pid, 'host': host} if pid else {}
  summary.state = run_state(mlmd.custom_value(run, RUN_STATE), runner, summary.component_states)
  summary.settings = settings.from_executions(by_node)
  summary.provenance = provenance.read(run)
  if summary.state in (INTERRUPTED, FAILED):  # what was under way when it ended never will end
    for node, state in summary.component_states.items():
      if state in _NOT_FINAL:
        summary.component_states[node] = 'INTERRUPTED'
  return summary


def runs(store) -> List[metadata_store_pb2.Context]:
  """Pipeline runs, newest first."""
  contexts = [c for t in RUN_CONTEXT_TYPES for c in store.get_contexts_by_type(t)]
  return sorted(contexts, key=lambda c: (c.create_time_since_epoch, c.id), reverse=True)


def run_context(store, run_id: str) -> Optional[metadata_store_pb2.Context]:
  """The run named `run_id` (a local run's id, or a Kubeflow run's context name), or None."""
  for context_type in RUN_CONTEXT_TYPES:
    try:
      context = store.get_context_by_type_and_name(context_type, run_id)
    except errors.NotFoundError:
      context = None
    if context is not None:
      return context
  return None


def summarize_latest_run(store) -> Optional[RunSummary]:
  all_runs = runs(store)
  return summarize_run(store, all_runs[0]) if all_runs else None


def latest_run(metadata_path: str) -> Optional[RunSummary]:
  return summarize_latest_run(store_lib.open_store(store_lib.sqlite_config(metadata_path, True)))
