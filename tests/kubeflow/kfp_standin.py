"""A stand-in for the open-source Kubeflow Pipelines 2.x backend: runs a compiled pipeline here.

No cluster runs here, so this does what KFP's driver, launcher and cache do for each task,
written from kubeflow/pipelines `backend/src/v2` (tags 2.0.5 to 2.17), not from what our code
expects (paths below are in that tree):

- Run parameters: the run's values over the root's compiled defaults; unknown names and wrong
  kinds refused (apiserver/template/v2_template.go validatePipelineJobInputs). The spec's
  `defaultPipelineRoot` is ignored by the OSS backend: the run gives the root
  (apiserver/template/template.go; config/env.go defaultPipelineRoot), which must be an
  object-store URI (objectstore ParseBucketConfig: "unrecognized pipeline root format").
- Task parameters checked against the component's declared types, strings converted, nulls
  refused; a producer without the output key is an error (driver resolveInputs). A
  `taskOutputParameter` is the producer's recorded output parameter (2.0.5 driver/driver.go
  resolveInputs, 2.17.0 driver/resolve.go resolveUpstreamParameters: metadata/model.go
  Execution.GetParameters, its `outputs`), and its producer becomes a dependency, as does every
  `taskOutputArtifact`'s; an unknown producer fails the run at creation
  (compiler/argocompiler/dag.go addImplicitDependencies, every tag).
- Output parameters (component/launcher_v2.go collectOutputParameters, every tag): the executor
  output's `parameterValues`, else the text of each parameter's outputFile converted to its type
  (metadata/converter.go TextToPbValue); recorded as the execution's `outputs` struct
  (metadata/client.go PublishExecution).
- ML Metadata: context `system.Pipeline` named `pipelineInfo.name`, parent of
  `system.PipelineRun` named with the run id (metadata/client.go GetPipeline); a root
  `system.DAGExecution` "run/<id>"; per task a `system.ContainerExecution` with `task_name`,
  `display_name`, `parent_dag_id`, `inputs`, `cache_fingerprint` (CreateExecution), associated
  with both contexts, its artifacts attributed to both (PutExecution); states RUNNING then
  COMPLETE / FAILED / CACHED; artifact types named by schema title (RecordArtifact,
  SchemaToArtifactType); metadata stored numbers as doubles, booleans as ints, lists and
  structs wrapped (metadata/converter.go StructValueToMLMDValue) plus `display_name`.
- Upstream artifacts (driver resolveInputs, GetOutputArtifactsByExecutionId, toRuntimeArtifact):
  `name` = the MLMD id in decimal, `uri`, `metadata` from the recorded properties, and
  `type: {"instanceSchema": ""}` — the schema is never filled (the quirk our entrypoint repairs).
- Outputs (driver provisionOutputs), the type from outputDefinitions; the layout, the output
  names, `executor-logs` and `outputs.outputFile` change with the release: see `Profile`.
- Launcher (component/launcher_v2.go): component defaults added, `{{$}}` and the parameter and
  artifact placeholders replaced by plain string substitution, the command run, the executor
  output merged (a URI replaces, metadata merges key by key), outputs recorded. The launcher's
  own upload is played for `executor-logs` only (the task's log, written by the launcher); the
  rest TFX reads and writes at the URIs itself (the launcher finds no local copy to upload).
- Cache (driver getFingerPrint, cacheutils GenerateCacheKey / GetExecutionCache): SHA-256 of input
  artifact ids, input parameters, output specs without URIs, output parameter types, image and raw
  command + args; looked up per ("pipeline/<name>", namespace), newest entry first
  (cacheutils/cache.go GetExecutionCache: SortBy "created_at desc", PageSize 1, every tag);
  written only after success and only when the driver computed a fingerprint, i.e. the task has
  caching on (launcher_v2.go Execute: `if fingerPrint != ""`, every tag); a hit records a
  CACHED execution whose outputs are the same MLMD artifacts, and every provisioned output key
  (executor-logs too) must be among them (driver collectOutputArtifactMetadataFromCache:
  "unable to find artifact with name"), and its output parameters are the cached execution's
  (driver reuseCachedOutputs). `enableCache: false` neither looks up nor writes. So a task whose
  upstream artifacts are new (an uncached producer) is never a hit, however alike their URIs
  (the key holds artifact names, i.e. MLMD ids); an upstream parameter of the same value is.
- Ordering and failure (compiler/argocompiler/dag.go): a task runs when all it depends on
  succeeded; after a failure nothing new starts. `lifecycle.preCacheCheck` is never read, and
  resolver executors are refused ("resolver not implemented yet", argocompiler/argo.go).

What changed between releases is a `Profile` (PROFILES: 2.0.5 to 2.17.0, each rule citing its
source and tags); the default is the newest release with its defaults, log publishing on. What a
task may do on the object store is not decided here: the tasks run with the credentials in `env`,
and the store answers (a multi-user install's per-profile policy: profile_store.py, on moto's S3
server with IAM on), so every refusal is met by the task's own code.

With `vertex=True` it plays Vertex AI Pipelines instead, for the JSON's differences: input
artifacts keep their schema title and a resource name, the ExampleGen driver hook
(`preCacheCheck`) runs before the executor and its parameters join the cache key, and
`resolver` tasks are answered from ML Metadata with their filter (schema_title, state,
metadata.K.number_value / string_value, name), newest first.
"""

import dataclasses
import hashlib
import json
import os
import re
import subprocess
import sys
import uuid
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from ml_metadata.proto import metadata_store_pb2 as mlmd

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VERTEX_NAME_PREFIX = 'projects/p/locations/l/metadataStores/default/artifacts/'
_TYPE_KINDS = {
  'STRING': 'string_value',
  'NUMBER_INTEGER': 'number_value',
  'NUMBER_DOUBLE': 'number_value',
  'BOOLEAN': 'bool_value',
}


LOGS_KEY = 'executor-logs'  # the driver's own output (driver.go provisionOutputs, 2.5.0+)
LEGACY_OUTPUT_FILE = '/tmp/kfp_outputs/output_metadata.json'  # component.OutputMetadataFilepath
PROFILE_BUCKET = 'mlpipeline'  # sync.py S3_BUCKET_NAME


@dataclasses.dataclass(frozen=True)
class Profile:
  """What one KFP release's driver and launcher do differently (kubeflow/pipelines, paths under
  backend/src/v2 unless said; each field names the tags whose source has the rule)."""

  tag: str
  # driver/driver.go provisionOutputs: GenerateOutputURI(root, [task, outputURISalt, key]), a
  # fresh uuid as salt: 2.4.0+; 2.0.5 generateOutputURI / 2.3.0 GenerateOutputURI(root,
  # [task, key]).
  salted_uris: bool
  # driver/driver.go provisionOutputs: with publishOutput == "true" an `executor-logs` output of
  # schemaTitle system.Artifact, no metadata: 2.5.0+. The flag: cmd/driver/main.go publish_logs,
  # default "true"; the compiler passes PUBLISH_LOGS when the apiserver has it set
  # (compiler/argocompiler/container.go).
  publish_logs: bool
  # driver/driver.go provisionOutputs 2.15.0+: task root <root>/<task>/<uuid>, each output at
  # <task root>/<key> with `name` = the key, outputFile = LocalPathForURI(task root)/
  # output_metadata.json (component/launcher_v2.go LocalPathForURI: /s3/, /minio/, /gcs/), the
  # legacy /tmp/kfp_outputs path when the scheme has no local path. Before: no name, legacy path.
  task_root_layout: bool
  # metadata/client.go RecordArtifact: custom property store_session_info = JSON of the bucket's
  # SessionInfo unless set: 2.3.0+ (2.0.5 has only display_name).
  store_session_info: bool
  # component/launcher_v2.go executeV2 -> qualifyExecutorLogsForRetry: the executor-logs URI
  # gets "-<retry index>" ("-0" on the first attempt) before placeholders are filled: 2.16.1
  # (cherry-pick c5cf379302) and 2.17.0.
  retry_qualified_logs: bool
  # component/launcher_v2.go uploadOutputArtifacts(componentSucceeded=false): a failed task
  # still records its executor-logs: 2.16.0+ (earlier a failed task records no output).
  logs_on_failure: bool
  # manifests/kustomize/base/installs/multi-user/pipelines-profile-controller/sync.py
  # put_user_policy: in multi-user mode a profile's credentials reach only mlpipeline/
  # {artifacts, private-artifacts/<ns>, private/<ns>, shared}/*: 2.15.0+ (2.14.0 has no policy).
  # Enforced by the store the tasks use (profile_store.py), not here.
  profile_scoped_credentials: bool


PROFILES = {
  p.tag: p
  for p in (
    Profile('2.0.5', False, False, False, False, False, False, False),
    Profile('2.3.0', False, False, False, True, False, False, False),
    Profile('2.4.0', True, False, False, True, False, False, False),
    Profile('2.4.1', True, False, False, True, False, False, False),
    Profile('2.5.0', True, True, False, True, False, False, False),
    Profile('2.14.0', True, True, False, True, False, False, False),
    Profile('2.14.4', True, True, False, True, False, False, False),
    Profile('2.15.0', True, True, True, True, False, False, True),
    Profile('2.16.0', True, True, True, True, False, True, True),
    Profile('2.16.1', True, True, True, True, True, True, True),
    Profile('2.17.0', True, True, True, True, True, True, True),
  )
}
OLDEST, NEWEST = PROFILES['2.0.5'], PROFILES['2.17.0']
# Vertex AI is no KFP release: a unique URI per task, none of the open-source launcher's extras.
VERTEX_PROFILE = Profile('vertex', True, False, False, False, False, False, False)
DEFAULT_PROFILE = NEWEST  # the release people install today, with its defaults (publish_logs on)


def local_path_for_uri(uri: str) -> Optional[str]:
  """component/launcher_v2.go LocalPathForURI (oci:// not played): the pod path of a URI."""
  for scheme, mount in (('gs://', '/gcs/'), ('minio://', '/minio/'), ('s3://', '/s3/')):
    if uri.startswith(scheme):
      return mount + uri[len(scheme) :]
  return None


def session_info(pipeline_root: str) -> str:
  """What RecordArtifact stores as store_session_info (json.Marshal of objectstore.SessionInfo):
  an s3:// root with no provider config: config/s3.go ProvideSessionInfo {"fromEnv": "true"};
  else the default MinIO session (config/env.go getDefaultMinioSessionInfo, 2.17.0)."""
  if pipeline_root.startswith('s3://'):
    return json.dumps({'Provider': 's3', 'Params': {'fromEnv': 'true'}}, separators=(',', ':'))
  return json.dumps(
    {
      'Provider': 'minio',
      'Params': {
        'accessKeyKey': 'accesskey',
        'disableSSL': 'true',
        'endpoint': 'minio-service.kubeflow:9000',
        'fromEnv': 'false',
        'maxRetries': '5',
        'region': 'minio',
        'secretKeyKey': 'secretkey',
        'secretName': 'mlpipeline-minio-artifact',
      },
    },
    separators=(',', ':'),
  )


def provision_outputs(
  profile: Profile, component: dict, run_root: str, task_name: str, pod_dir: str
) -> dict:
  """driver.go provisionOutputs as `profile`'s release has it. Pod-local paths (outputFile) are
  placed under `pod_dir`, the pod's file system here."""
  definitions = dict(component.get('outputDefinitions', {}).get('artifacts', {}))
  if profile.publish_logs:
    definitions[LOGS_KEY] = {'artifactType': {'schemaTitle': 'system.Artifact'}}
  salt = str(uuid.uuid4()) if profile.salted_uris else ''
  task_root = '/'.join(part for part in (run_root.rstrip('/'), task_name, salt) if part)
  outputs: Dict[str, Any] = {'artifacts': {}}
  for key, definition in definitions.items():
    artifact = {'uri': f'{task_root}/{key}', 'type': definition['artifactType']}
    if profile.task_root_layout:
      artifact['name'] = key
    if definition.get('metadata'):
      artifact['metadata'] = definition['metadata']
    outputs['artifacts'][key] = {'artifacts': [artifact]}
  output_params = component.get('outputDefinitions', {}).get('parameters', {})
  if output_params:
    outputs['parameters'] = {
      k: {'outputFile': _in_pod(pod_dir, f'/tmp/kfp/outputs/{k}')} for k in output_params
    }
  local_root = local_path_for_uri(task_root) if profile.task_root_layout else None
  outputs['outputFile'] = _in_pod(
    pod_dir, f'{local_root}/output_metadata.json' if local_root else LEGACY_OUTPUT_FILE
  )
  return outputs


def _in_pod(pod_dir: str, path: str) -> str:
  return os.path.join(pod_dir, path.lstrip('/'))


class RunFailed(RuntimeError):
  """A task failed: its stderr tail is in the message."""


@dataclasses.dataclass
class TaskRun:
  state: str  # COMPLETE, CACHED, FAILED
  execution_id: int
  outputs: Dict[str, List[dict]]  # output key -> runtime artifacts as downstream tasks see them
  stderr: str = ''
  parameters: Dict[str, Any] = dataclasses.field(default_factory=dict)  # output parameters


@dataclasses.dataclass
class PipelineRun:
  run_id: str
  tasks: Dict[str, TaskRun]

  def output(self, task: str, key: str) -> dict:
    [artifact] = self.tasks[task].outputs[key]
    return artifact


def _title(artifact_type: dict) -> str:
  if artifact_type.get('schemaTitle'):
    return artifact_type['schemaTitle']
  return (yaml.safe_load(artifact_type.get('instanceSchema') or '') or {}).get(
    'title', 'system.Artifact'
  )


def _to_mlmd_value(value) -> mlmd.Value:
  """converter.go StructValueToMLMDValue."""
  result = mlmd.Value()
  if isinstance(value, bool):
    result.int_value = int(value)
  elif isinstance(value, (int, float)):
    result.double_value = float(value)
  elif isinstance(value, str):
    result.string_value = value
  elif isinstance(value, list):
    result.struct_value.update({'list': value})
  elif isinstance(value, dict):
    result.struct_value.update({'struct': value})
  else:
    raise ValueError(f'unknown/unsupported value type {type(value).__name__}')
  return result


def _from_mlmd_value(value: mlmd.Value):
  """converter.go toRuntimeArtifact: ints and doubles become numbers, structs stay wrapped."""
  kind = value.WhichOneof('value')
  if kind == 'struct_value':
    return json_format.MessageToDict(value.struct_value)
  if kind == 'int_value':
    return float(value.int_value)
  return getattr(value, kind)


def _is_kind(value, kind: str) -> bool:
  if kind == 'number_value':
    return isinstance(value, (int, float)) and not isinstance(value, bool)
  return isinstance(value, bool if kind == 'bool_value' else str)


def _fingerprint(cache_key: dict) -> str:
  return hashlib.sha256(
    json.dumps(cache_key, sort_keys=True, separators=(',', ':')).encode()
  ).hexdigest()


class KfpStandIn:
  """Runs compiled pipelines against one ML Metadata store, as one KFP installation would."""

  def __init__(
    self,
    store,
    work_dir: str,
    namespace: str = 'kubeflow-user-example-com',
    env: Optional[Dict[str, str]] = None,
    vertex: bool = False,
    timeout: float = 900,
    allow_local_root: bool = False,
    profile: Optional[Profile] = None,
  ):
    """allow_local_root: accept a plain folder as pipeline root (the tests' convenience; the real
    launcher refuses one). profile: the KFP release played (PROFILES). env: the pods' variables
    (on a multi-user install, the credentials the profile controller gives the namespace)."""
    self.store = store
    self.allow_local_root = allow_local_root
    self.profile = profile or (VERTEX_PROFILE if vertex else DEFAULT_PROFILE)
    self.work_dir = work_dir
    self.namespace = namespace
    self.env = dict(env or {})
    self.vertex = vertex
    self.timeout = timeout
    self.cache_file = os.path.join(work_dir, 'task_store.json')  # the API server's task table
    os.makedirs(work_dir, exist_ok=True)

  # ---------------------------------------------------------------- ML Metadata helpers

  def _type_id(self, kind: str, name: str) -> int:
    put = {
      'artifact': self.store.put_artifact_type,
      'execution': self.store.put_execution_type,
      'context': self.store.put_context_type,
    }[kind]
    proto = {
      'artifact': mlmd.ArtifactType,
      'execution': mlmd.ExecutionType,
      'context': mlmd.ContextType,
    }[kind](name=name)
    return put(proto)

  def _context(self, type_name: str, name: str, properties: Optional[Dict[str, str]] = None):
    existing = self.store.get_context_by_type_and_name(type_name, name)
    if existing:
      return existing
    context = mlmd.Context(type_id=self._type_id('context', type_name), name=name)
    for key, value in (properties or {}).items():
      context.custom_properties[key].string_value = value
    [context.id] = self.store.put_contexts([context])
    return self.store.get_contexts_by_id([context.id])[0]

  def _runtime_artifact(self, artifact: mlmd.Artifact) -> dict:
    type_name = self.store.get_artifact_types_by_id([artifact.type_id])[0].name
    metadata = {k: _from_mlmd_value(v) for k, v in artifact.properties.items()}
    metadata.update({k: _from_mlmd_value(v) for k, v in artifact.custom_properties.items()})
    if self.vertex:
      return {
        'name': VERTEX_NAME_PREFIX + str(artifact.id),
        'uri': artifact.uri,
        'metadata': metadata,
        'type': {'schemaTitle': type_name, 'schemaVersion': '0.0.1'},
      }
    return {
      'name': str(artifact.id),
      'uri': artifact.uri,
      'metadata': metadata,
      'type': {'instanceSchema': ''},
    }

  def _outputs_of(self, execution_id: int) -> Dict[str, List[mlmd.Artifact]]:
    events = [
      e
      for e in self.store.get_events_by_execution_ids([execution_id])
      if e.type == mlmd.Event.OUTPUT
    ]
    artifacts = {a.id: a for a in self.store.get_artifacts_by_id([e.artifact_id for e in events])}
    outputs: Dict[str, List[mlmd.Artifact]] = {}
    for event in events:
      outputs.setdefault(event.path.steps[0].key, []).append(artifacts[event.artifact_id])
    return outputs

  def _publish(self, execution: mlmd.Execution, contexts, inputs=None, outputs=None) -> int:
    pairs, seen = [], set()
    for direction, artifacts in (
      (mlmd.Event.INPUT, inputs or {}),
      (mlmd.Event.OUTPUT, outputs or {}),
    ):
      for key, items in artifacts.items():
        for artifact in items:
          # ML Metadata keeps one event per (artifact, execution, type): a resolved baseline that
          # is the candidate itself (Vertex, unchanged model) is one INPUT, under the first key.
          if (artifact.id, direction) in seen:
            continue
          seen.add((artifact.id, direction))
          event = mlmd.Event(type=direction)
          event.path.steps.add().key = key
          pairs.append((artifact, event))
    execution_id, _, _ = self.store.put_execution(
      execution, pairs, contexts, reuse_context_if_already_exist=True
    )
    return execution_id

  # ---------------------------------------------------------------- the API server's cache table

  def _cache(self) -> List[dict]:
    if not os.path.exists(self.cache_file):
      return []
    with open(self.cache_file) as f:
      return json.load(f)

  def _cached_execution(self, pipeline_name: str, fingerprint: str) -> Optional[int]:
    """cacheutils GetExecutionCache: the newest task with this fingerprint, pipeline, namespace."""
    entries = [
      e
      for e in self._cache()
      if (e['fingerprint'], e['pipelineName'], e['namespace'])
      == (fingerprint, f'pipeline/{pipeline_name}', self.namespace)
    ]
    return max(entries, key=lambda e: e['created_at'])['execution_id'] if entries else None

  def _remember(self, pipeline_name: str, fingerprint: str, execution_id: int) -> None:
    table = self._cache()
    table.append(
      {
        'fingerprint': fingerprint,
        'pipelineName': f'pipeline/{pipeline_name}',
        'namespace': self.namespace,
        'execution_id': execution_id,
        'created_at': len(table),
      }
    )  # insertion order: a clock that never ties
    with open(self.cache_file, 'w') as f:
      json.dump(table, f)

  # ---------------------------------------------------------------- a run

  def run(
    self,
    spec: Dict[str, Any],
    pipeline_root: str,
    parameters: Optional[Dict[str, Any]] = None,
    run_id: Optional[str] = None,
    only: Optional[List[str]] = None,
  ) -> PipelineRun:
    """only: run just these tasks (a prefix of the DAG: each one's upstream tasks among them), the
    tests' cheap path; KFP itself always runs the whole DAG."""
    if 'pipelineSpec' in spec:  # a Vertex PipelineJob: its spec and runtime config
      job = spec
      spec = job['pipelineSpec']
      parameters = {**job.get('runtimeConfig', {}).get('parameterValues', {}), **(parameters or {})}
    json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())  # the backend parses strictly
    executors = spec['deploymentSpec']['executors']
    if not self.vertex and any('resolver' in e for e in executors.values()):
      raise RunFailed('resolver not implemented yet')  # argocompiler/argo.go, at run creation
    if not self.allow_local_root and not re.match(r'^[a-z][a-z0-9]+:///?[^/?]+', pipeline_root):
      raise RunFailed(f'unrecognized pipeline root format: "{pipeline_root}"')  # ParseBucketConfig
    run_id = run_id or str(uuid.uuid4())
    pipeline_name = spec['pipelineInfo']['name']
    run_root = f'{pipeline_root.rstrip("/")}/{pipeline_name}/{run_id}'
    values = self._run_parameters(spec, parameters or {})

    pipeline_ctx = self._context('system.Pipeline', pipeline_name)
    run_ctx = self._context(
      'system.PipelineRun',
      run_id,
      {'namespace': self.namespace, 'resource_name': 'run-resource', 'pipeline_root': run_root},
    )
    self.store.put_parent_contexts(
      [mlmd.ParentContext(child_id=run_ctx.id, parent_id=pipeline_ctx.id)]
    )
    contexts = [pipeline_ctx, run_ctx]
    root = mlmd.Execution(
      type_id=self._type_id('execution', 'system.DAGExecution'),
      name=f'run/{run_id}',
      last_known_state=mlmd.Execution.RUNNING,
    )
    for key in ('display_name', 'task_name'):
      root.custom_properties[key].string_value = ''
    root.custom_properties['inputs'].struct_value.SetInParent()
    root.custom_properties['inputs'].struct_value.update(values)
    dag_id = self._publish(root, contexts)

    result = PipelineRun(run_id, {})
    tasks = self._with_implicit_dependencies(spec['root']['dag']['tasks'])
    if only is not None:
      outside = sorted({d for t in only for d in tasks[t].get('dependentTasks', [])} - set(only))
      if outside:
        raise ValueError(f'only={only} leaves out upstream task(s) {outside}')
      tasks = {name: tasks[name] for name in only}
    for task_name in self._order(tasks):
      task = tasks[task_name]
      executor = executors[spec['components'][task['componentRef']['name']]['executorLabel']]
      if 'resolver' in executor:
        result.tasks[task_name] = self._resolve(
          task_name, task, executor['resolver'], result, contexts, dag_id
        )
        continue
      result.tasks[task_name] = self._container_task(
        spec,
        task_name,
        task,
        executor['container'],
        values,
        result,
        contexts,
        dag_id,
        pipeline_name,
        run_root,
        run_id,
      )
      if result.tasks[task_name].state == 'FAILED':
        raise RunFailed(f'{task_name} failed:\n{result.tasks[task_name].stderr[-6000:]}')
    root.id = dag_id
    root.last_known_state = mlmd.Execution.COMPLETE
    self.store.put_executions([root])
    return result

  @staticmethod
  def _with_implicit_dependencies(tasks: Dict[str, Any]) -> Dict[str, Any]:
    """argocompiler/dag.go addImplicitDependencies: each task's input producers join its
    dependentTasks; an unknown one is an error when the run is created."""
    tasks = json.loads(json.dumps(tasks))
    for task in tasks.values():
      inputs = task.get('inputs', {})
      producers = [
        s['taskOutputParameter']['producerTask']
        for s in inputs.get('parameters', {}).values()
        if 'taskOutputParameter' in s
      ]
      producers += [
        s['taskOutputArtifact']['producerTask']
        for s in inputs.get('artifacts', {}).values()
        if 'taskOutputArtifact' in s
      ]
      for producer in producers:
        if producer not in tasks:
          raise RunFailed(f'failed to add implicit deps: unknown producer task "{producer}" in DAG')
        if producer not in task.setdefault('dependentTasks', []):
          task['dependentTasks'].append(producer)
    return tasks

  @staticmethod
  def _order(tasks: Dict[str, Any]) -> List[str]:
    done: Set[str] = set()
    order: List[str] = []
    while len(order) < len(tasks):
      ready = sorted(
        name
        for name, task in tasks.items()
        if name not in done and set(task.get('dependentTasks', [])) <= done
      )
      if not ready:
        raise RunFailed('the DAG has a cycle')
      order.extend(ready)
      done.update(ready)
    return order

  @staticmethod
  def _run_parameters(spec, given: Dict[str, Any]) -> Dict[str, Any]:
    declared = spec['root'].get('inputDefinitions', {}).get('parameters', {})
    extra = sorted(set(given) - set(declared))
    if extra:
      raise RunFailed(f'parameter(s) provided are not required by pipeline: {extra}')
    values = {}
    for name, definition in declared.items():
      if name in given:
        value = given[name]
        kind = _TYPE_KINDS.get(definition['parameterType'])
        if kind and not _is_kind(value, kind):
          raise RunFailed(
            f'input parameter {name} type mismatch: expect {definition["parameterType"]}'
          )
        values[name] = value
      elif 'defaultValue' in definition:
        values[name] = definition['defaultValue']
      elif not definition.get('isOptional'):
        raise RunFailed(f'input parameter {name} is required')
    return values

  def _inputs(self, spec, task, values, result) -> Tuple[Dict[str, Any], Dict[str, List[dict]]]:
    component = spec['components'][task['componentRef']['name']]
    declared = component.get('inputDefinitions', {}).get('parameters', {})
    params = {}
    for name, source in task.get('inputs', {}).get('parameters', {}).items():
      if 'runtimeValue' in source:
        value = source['runtimeValue']['constant']
      elif 'componentInputParameter' in source:
        if source['componentInputParameter'] not in values:
          raise RunFailed(
            f'parent DAG does not have input parameter {source["componentInputParameter"]}'
          )
        value = values[source['componentInputParameter']]
      elif 'taskOutputParameter' in source:
        producer = source['taskOutputParameter']
        produced = result.tasks[producer['producerTask']].parameters
        if producer['outputParameterKey'] not in produced:
          raise RunFailed(
            f'cannot find output parameter key {producer["outputParameterKey"]!r} '
            f'in producer task {producer["producerTask"]!r}'
          )
        value = produced[producer['outputParameterKey']]
      else:
        raise RunFailed(f'parameter spec {source} not implemented')
      expected = declared.get(name, {}).get('parameterType')
      if expected == 'STRING' and not isinstance(value, str):
        value = (
          json.dumps(value)
          if isinstance(value, (dict, list))
          else (format(value, 'g') if isinstance(value, float) else str(value))
        )
      elif value is None:
        raise RunFailed(f'got null for input parameter {name!r}')
      elif expected in _TYPE_KINDS and not _is_kind(value, _TYPE_KINDS[expected]):
        raise RunFailed(f'input parameter {name!r} type mismatch: expect {expected}, got {value!r}')
      params[name] = value
    artifacts = {}
    for name, source in task.get('inputs', {}).get('artifacts', {}).items():
      producer = source['taskOutputArtifact']
      outputs = result.tasks[producer['producerTask']].outputs
      if producer['outputArtifactKey'] not in outputs:
        raise RunFailed(
          f'cannot find output artifact key {producer["outputArtifactKey"]!r} in '
          f'producer task {producer["producerTask"]!r}'
        )
      artifacts[name] = outputs[producer['outputArtifactKey']]
    return params, artifacts

  def _container_task(
    self,
    spec,
    task_name,
    task,
    container,
    values,
    result,
    contexts,
    dag_id,
    pipeline_name,
    run_root,
    run_id,
  ) -> TaskRun:
    component = spec['components'][task['componentRef']['name']]
    params, input_artifacts = self._inputs(spec, task, values, result)
    pod_dir = os.path.join(self.work_dir, 'pods', run_id, task_name)
    outputs = provision_outputs(self.profile, component, run_root, task_name, pod_dir)
    output_params = component.get('outputDefinitions', {}).get('parameters', {})
    executor_input = {
      'inputs': {
        'parameterValues': params,
        'artifacts': {k: {'artifacts': v} for k, v in input_artifacts.items()},
      },
      'outputs': outputs,
    }
    os.makedirs(os.path.dirname(outputs['outputFile']), exist_ok=True)

    stderr = ''
    if self.vertex and 'lifecycle' in container:  # Vertex runs the driver hook first
      code, _, stderr = self._launch(
        container['lifecycle']['preCacheCheck'], component, executor_input, pod_dir
      )
      if code:
        return self._failed(task_name, params, input_artifacts, contexts, dag_id, stderr)
      with open(outputs['outputFile']) as f:
        params.update(json.load(f).get('parameterValues', {}))

    fingerprint = None
    execution = mlmd.Execution(
      type_id=self._type_id('execution', 'system.ContainerExecution'),
      last_known_state=mlmd.Execution.RUNNING,
    )
    self._describe(execution, task_name, params, dag_id)
    if task.get('cachingOptions', {}).get('enableCache'):
      fingerprint = _fingerprint(
        {
          'inputArtifactNames': {
            k: {'artifactNames': [a['name'] for a in v]} for k, v in input_artifacts.items()
          },
          'inputParameterValues': params,
          'outputArtifactsSpec': {
            k: {
              'name': v['artifacts'][0].get('name', ''),
              'type': v['artifacts'][0]['type'],
              'metadata': v['artifacts'][0].get('metadata', {}),
            }
            for k, v in outputs['artifacts'].items()
          },
          'outputParametersSpec': {k: v['parameterType'] for k, v in output_params.items()},
          'containerSpec': {
            'image': container['image'],
            'cmdArgs': list(container['command']) + list(container.get('args', [])),
          },
        }
      )
      execution.custom_properties['cache_fingerprint'].string_value = fingerprint
      cached_id = self._cached_execution(pipeline_name, fingerprint)
      if cached_id is not None:
        cached = self._outputs_of(cached_id)
        missing = set(outputs['artifacts']) - set(cached)
        if missing:
          raise RunFailed(
            f'unable to find artifact with name {sorted(missing)} in mlmd output artifacts'
          )
        execution.last_known_state = mlmd.Execution.CACHED
        execution.custom_properties['cached_execution_id'].string_value = str(cached_id)
        cached_parameters = self._output_parameters_of(cached_id)
        self._set_output_parameters(execution, cached_parameters)
        execution_id = self._publish(
          execution, contexts, self._mlmd_inputs(input_artifacts), cached
        )
        return TaskRun(
          'CACHED',
          execution_id,
          {k: [self._runtime_artifact(a) for a in v] for k, v in cached.items()},
          parameters=cached_parameters,
        )

    execution_id = self._publish(execution, contexts, self._mlmd_inputs(input_artifacts))
    execution.id = execution_id
    if self.profile.retry_qualified_logs and LOGS_KEY in outputs['artifacts']:
      outputs['artifacts'][LOGS_KEY]['artifacts'][0]['uri'] += '-0'  # qualifyExecutorLogsURI
    code, stdout, stderr = self._launch(container, component, executor_input, pod_dir)
    uploaded = self._write_log(outputs, pod_dir, stdout + stderr)
    if code:
      execution.last_known_state = mlmd.Execution.FAILED
      recorded = {}
      if self.profile.logs_on_failure and uploaded:
        recorded = self._record_outputs(
          {'artifacts': {LOGS_KEY: outputs['artifacts'][LOGS_KEY]}, 'outputFile': ''}, run_root
        )
      self._publish(execution, contexts, None, recorded)
      return TaskRun('FAILED', execution_id, {}, stderr)

    recorded = self._record_outputs(outputs, run_root)
    parameters = self._collect_output_parameters(outputs, output_params)
    self._set_output_parameters(execution, parameters)
    execution.last_known_state = mlmd.Execution.COMPLETE
    self._publish(execution, contexts, None, recorded)
    if fingerprint:
      self._remember(pipeline_name, fingerprint, execution_id)
    return TaskRun(
      'COMPLETE',
      execution_id,
      {k: [self._runtime_artifact(a) for a in v] for k, v in recorded.items()},
      stderr,
      parameters,
    )

  @staticmethod
  def _executor_output(outputs) -> dict:
    """The ExecutorOutput the task wrote at outputs.outputFile ({} when it wrote none)."""
    if not (outputs['outputFile'] and os.path.exists(outputs['outputFile'])):
      return {}
    with open(outputs['outputFile']) as f:
      return json_format.MessageToDict(
        json_format.Parse(f.read(), pipeline_spec_pb2.ExecutorOutput())
      )

  def _collect_output_parameters(self, outputs, declared) -> Dict[str, Any]:
    """launcher_v2.go collectOutputParameters: the executor output's values win; else each
    parameter's outputFile, read as its declared type (converter.go TextToPbValue)."""
    values = dict(self._executor_output(outputs).get('parameterValues', {}))
    parsers: Dict[str, Callable[[str], Any]] = {
      'STRING': str,
      'NUMBER_INTEGER': lambda t: float(int(t.strip())),
      'NUMBER_DOUBLE': lambda t: float(t.strip()),
      'BOOLEAN': lambda t: {'true': True, 'false': False}[t.strip().lower()],
    }
    for name, parameter in outputs.get('parameters', {}).items():
      if name in values:
        continue
      kind = declared[name]['parameterType']
      try:
        with open(parameter['outputFile']) as f:
          text = f.read()
        values[name] = parsers.get(kind, json.loads)(text)
      except (OSError, ValueError, KeyError) as e:
        raise RunFailed(
          f'failed to read output parameter name="{name}" type="{kind}" '
          f'path="{parameter["outputFile"]}": {e}'
        ) from None
    return values

  @staticmethod
  def _set_output_parameters(execution: mlmd.Execution, parameters: Dict[str, Any]) -> None:
    """metadata/client.go PublishExecution: the output parameters as the `outputs` struct."""
    if parameters:
      execution.custom_properties['outputs'].struct_value.update(parameters)

  def _output_parameters_of(self, execution_id: int) -> Dict[str, Any]:
    """metadata/model.go Execution.GetParameters: a recorded execution's `outputs`."""
    [execution] = self.store.get_executions_by_id([execution_id])
    if 'outputs' not in execution.custom_properties:
      return {}
    return json_format.MessageToDict(execution.custom_properties['outputs'].struct_value)

  def _write_log(self, outputs, pod_dir, text: str) -> bool:
    """launcher_v2.go getLogWriter: the task's stdout and stderr go to the executor-logs
    artifact's local path (LocalPathForURI), then uploadOutputArtifacts puts that file at the URI
    with the same credentials (an upload refused is an error: nothing recorded). True if put."""
    if LOGS_KEY not in outputs['artifacts']:
      return False
    uri = outputs['artifacts'][LOGS_KEY]['artifacts'][0]['uri']
    local = local_path_for_uri(uri)
    path = _in_pod(pod_dir, local) if local else uri  # a local root (tests only): the file itself
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
      f.write(text)
    if uri.startswith('s3://'):
      import boto3
      from boto3.exceptions import S3UploadFailedError
      from botocore.exceptions import ClientError

      bucket, key = uri[len('s3://') :].split('/', 1)
      try:
        boto3.client(
          's3',
          endpoint_url=self.env.get('AWS_ENDPOINT_URL'),
          region_name=self.env.get('AWS_DEFAULT_REGION'),
          aws_access_key_id=self.env.get('AWS_ACCESS_KEY_ID'),
          aws_secret_access_key=self.env.get('AWS_SECRET_ACCESS_KEY'),
        ).upload_file(path, bucket, key)
      except (ClientError, S3UploadFailedError):  # the store refused it: nothing to record
        return False
    return True

  def _failed(self, task_name, params, input_artifacts, contexts, dag_id, stderr) -> TaskRun:
    execution = mlmd.Execution(
      type_id=self._type_id('execution', 'system.ContainerExecution'),
      last_known_state=mlmd.Execution.FAILED,
    )
    self._describe(execution, task_name, params, dag_id)
    return TaskRun(
      'FAILED', self._publish(execution, contexts, self._mlmd_inputs(input_artifacts)), {}, stderr
    )

  @staticmethod
  def _describe(execution, task_name, params, dag_id) -> None:
    for key in ('task_name', 'display_name'):
      execution.custom_properties[key].string_value = task_name
    execution.custom_properties['parent_dag_id'].int_value = dag_id
    inputs = execution.custom_properties['inputs'].struct_value
    inputs.SetInParent()  # an empty map is still a struct (an unset Value crashes the store)
    inputs.update(params)

  def _mlmd_inputs(self, input_artifacts) -> Dict[str, List[mlmd.Artifact]]:
    ids = {k: [int(a['name'].rsplit('/', 1)[-1]) for a in v] for k, v in input_artifacts.items()}
    return {k: self.store.get_artifacts_by_id(v) if v else [] for k, v in ids.items()}

  def _launch(self, container, component, executor_input, pod_dir) -> Tuple[int, str, str]:
    """launcher_v2.go executeV2: defaults added, placeholders replaced, the command run."""
    executor_input = json.loads(json.dumps(executor_input))
    declared = component.get('inputDefinitions', {}).get('parameters', {})
    for name, definition in declared.items():
      if name not in executor_input['inputs']['parameterValues'] and 'defaultValue' in definition:
        executor_input['inputs']['parameterValues'][name] = definition['defaultValue']
    message = json_format.ParseDict(executor_input, pipeline_spec_pb2.ExecutorInput())
    whole = json_format.MessageToJson(message, indent=None)
    replacements = {'{{$}}': whole}
    for name, value in executor_input['inputs']['parameterValues'].items():
      replacements[f"{{{{$.inputs.parameters['{name}']}}}}"] = (
        value if isinstance(value, str) else json.dumps(value)
      )
    for name, artifact_list in executor_input['inputs']['artifacts'].items():
      if artifact_list['artifacts']:
        replacements[f"{{{{$.inputs.artifacts['{name}'].uri}}}}"] = artifact_list['artifacts'][0][
          'uri'
        ]
    for name, artifact_list in executor_input['outputs']['artifacts'].items():
      replacements[f"{{{{$.outputs.artifacts['{name}'].uri}}}}"] = artifact_list['artifacts'][0][
        'uri'
      ]
    argv = []
    for arg in list(container['command']) + list(container.get('args', [])):
      for placeholder, value in replacements.items():
        arg = arg.replace(placeholder, value)
      if re.search(r'\{\{\$[^}]*\}\}', arg):
        raise RunFailed(f'placeholder not implemented by the stand-in: {arg[:200]}')
      argv.append(arg)
    if argv[0] != 'python':
      raise RunFailed(f'unexpected command {argv[0]!r}: the image runs python')
    env = dict(
      os.environ,
      PYTHONPATH=REPO,
      TF_CPP_MIN_LOG_LEVEL='3',
      PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ['PATH'],
      **self.env,
    )
    proc = subprocess.run(
      argv, cwd=pod_dir, env=env, capture_output=True, text=True, timeout=self.timeout
    )
    return proc.returncode, proc.stdout, proc.stderr

  def _record_outputs(self, outputs, run_root) -> Dict[str, List[mlmd.Artifact]]:
    """launcher_v2.go uploadOutputArtifacts: mergeRuntimeArtifacts (not for executor-logs from
    2.17.0, which the launcher keeps as it placed it), then metadata/client.go RecordArtifact."""
    produced = self._executor_output(outputs).get('artifacts', {})
    recorded = {}
    for key, artifact_list in outputs['artifacts'].items():
      provisioned = artifact_list['artifacts'][0]
      uri, metadata = provisioned['uri'], dict(provisioned.get('metadata', {}))
      written = produced.get(key, {}).get('artifacts', [])
      if written and not (key == LOGS_KEY and self.profile.retry_qualified_logs):
        uri = written[0].get('uri') or uri
        metadata.update(written[0].get('metadata', {}))
      artifact = mlmd.Artifact(
        type_id=self._type_id('artifact', _title(provisioned['type'])),
        uri=uri,
        state=mlmd.Artifact.LIVE,
      )
      for name, value in metadata.items():
        artifact.custom_properties[name].CopyFrom(_to_mlmd_value(value))
      if 'display_name' not in metadata:
        artifact.custom_properties['display_name'].string_value = key
      if self.profile.store_session_info and 'store_session_info' not in metadata:
        artifact.custom_properties['store_session_info'].string_value = session_info(run_root)
      [artifact.id] = self.store.put_artifacts([artifact])
      recorded[key] = self.store.get_artifacts_by_id([artifact.id])
    return recorded

  # ---------------------------------------------------------------- Vertex resolvers

  def _resolve(self, task_name, task, resolver, result, contexts, dag_id) -> TaskRun:
    inputs = {
      name: result.tasks[source['taskOutputArtifact']['producerTask']].outputs.get(
        source['taskOutputArtifact']['outputArtifactKey'], []
      )
      for name, source in task.get('inputs', {}).get('artifacts', {}).items()
    }
    outputs = {}
    for key, query in resolver['outputArtifactQueries'].items():
      found = self._query(query['filter'], inputs)
      outputs[key] = found[:1]
    execution = mlmd.Execution(
      type_id=self._type_id('execution', 'system.ResolverExecution'),
      last_known_state=mlmd.Execution.COMPLETE,
    )
    self._describe(execution, task_name, {}, dag_id)
    execution_id = self._publish(execution, contexts, None, outputs)
    return TaskRun(
      'COMPLETE',
      execution_id,
      {k: [self._runtime_artifact(a) for a in v] for k, v in outputs.items()},
    )

  def _query(self, text: str, inputs: Dict[str, List[dict]]) -> List[mlmd.Artifact]:
    """Vertex ML Metadata's filter, as far as TFX's resolvers use it; newest first."""

    def placeholder(match):
      name, key = match.group(1), match.group(2)
      if not inputs.get(name):
        raise LookupError(name)
      return str(inputs[name][0]['metadata'][key])

    try:
      text = re.sub(
        r"\{\{\$\.inputs\.artifacts\['([^']+)'\]\.metadata\['([^']+)'\]\}\}", placeholder, text
      )
    except LookupError:
      return []  # its input resolved to nothing: nothing to look up
    clauses = [c.strip() for c in text.split(' AND ')]
    candidates = None
    for clause in clauses:
      match = re.fullmatch(r'schema_title="([^"]+)"', clause)
      if match:
        candidates = self.store.get_artifacts_by_type(match.group(1))
    if candidates is None:
      raise RunFailed(f'resolver filter without schema_title: {text}')
    for clause in clauses:
      if clause.startswith('schema_title='):
        continue
      if clause == 'state=LIVE':
        candidates = [a for a in candidates if a.state == mlmd.Artifact.LIVE]
        continue
      match = re.fullmatch(r'name="([^"]*)"', clause)
      if match:
        candidates = [a for a in candidates if VERTEX_NAME_PREFIX + str(a.id) == match.group(1)]
        continue
      match = re.fullmatch(r'metadata\.(\w+)\.(number_value|string_value)=("?)([^"]*)\3', clause)
      if match:
        key, kind, value = match.group(1), match.group(2), match.group(4)

        def matches(artifact, key=key, kind=kind, value=value):
          if key not in artifact.custom_properties:
            return False
          actual = _from_mlmd_value(artifact.custom_properties[key])
          return actual == float(value) if kind == 'number_value' else actual == value

        candidates = [a for a in candidates if matches(a)]
        continue
      raise RunFailed(f'resolver filter clause not implemented by the stand-in: {clause}')
    return sorted(candidates, key=lambda a: (a.create_time_since_epoch, a.id), reverse=True)
