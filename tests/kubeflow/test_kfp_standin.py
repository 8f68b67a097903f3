"""The compiled pipeline, run end to end by a stand-in for the KFP 2.x backend (kfp_standin.py),
recording to a real ML Metadata gRPC service: every task's container command run as a pod runs it
(the ExecutorInput the backend builds, `{{$}}` and the placeholders filled, `python` resolving to
this project's environment, PYTHONPATH as the image sets it), under KFP's real artifact passing,
caching (an unchanged rerun cached from end to end), the baseline scoped to its own pipeline, no
duplicate pushes, and Vertex's JSON.

KFP releases differ (kfp_standin.PROFILES): the whole pipeline runs on an s3:// root under the
newest release (2.17.0, log publishing on) and as Vertex; the four-run module fixture under
2.14.0; the oldest (2.0.5) and each release that changed a rule run ExampleGen and its cached
rerun in test_kfp_standin_self_checks.py. On a multi-user install the tasks run with their profile's
credentials against a store that enforces the release's policy (profile_store.py), and meet its
refusals in their own code. The stand-in's own per-release rules are checked against its
Profile table apart, in test_kfp_standin_self_checks.py."""

import json
import os
import re

import pytest
from ml_metadata.proto import metadata_store_pb2 as mlmd

from components.lib import names
from components.lib.artifact_files import read_serving_result
from components.lib.serving_dir import versions
from tests.kubeflow.conftest import compile_on_local_root, compile_to
from tests.kubeflow.kfp_standin import LOGS_KEY, PROFILES, KfpStandIn, RunFailed

pytestmark = pytest.mark.slow
SMALL = ('--train-examples', '2000', '--eval-examples', '500', '--epochs', '1')
TASKS = {
  'MnistExampleGen',
  'Trainer',
  'LatestBlessedModel',
  'BaselineModel',
  'Evaluator',
  'ServingCheck',
  'Pusher',
  'RunResults',
  'ImportSchemaGen',
  'StatisticsGen',
  'SchemaGen',
  'ExampleValidator',
}
LOOKUP = 'LatestBlessedModel'  # never cached: it reads the store
ONE_EPOCH = {'epochs': 1}


def _compile(folder, mlmd_address, mnist_dir, root, *extra, target='kfp'):
  flags = (
    '--data-dir',
    mnist_dir,
    '--mlmd-address',
    mlmd_address,
    '--target',
    target,
    *SMALL,
    *extra,
  )
  if root.startswith('s3://') and target == 'kfp':
    _, spec = compile_to(str(folder), '--pipeline-root', root, *flags)
  else:  # a local root, or Vertex on the loopback S3: the CLI takes only gs:// for Vertex, and
    # there is no Cloud Storage here, so these compile past its location checks
    _, spec = compile_on_local_root(str(folder), root, *flags)
  if target == 'vertex':
    with open(os.path.join(folder, 'build', 'pipeline.json')) as f:
      return json.load(f)
  return spec


def _states(run):
  return {name: task.state for name, task in run.tasks.items()}


def _custom(store, artifact_id, key):
  [artifact] = store.get_artifacts_by_id([int(artifact_id)])
  value = artifact.custom_properties.get(key)
  return None if value is None else getattr(value, value.WhichOneof('value'))


@pytest.fixture(scope='module')
def kfp(tmp_path_factory, mlmd_service, mnist_dir):
  """Four runs on one store, in the order a cluster would see them."""
  address, store = mlmd_service
  work = tmp_path_factory.mktemp('standin')
  root = str(work / 'root')
  standin = KfpStandIn(
    store, str(work / 'backend'), allow_local_root=True, profile=PROFILES['2.14.0']
  )
  # Compiled for 2 epochs, run with the `epochs` parameter set to 1: the run's value wins.
  ours = _compile(
    work / 'ours', address, mnist_dir, root, '--accuracy-threshold', '0.5', '--epochs', '2'
  )
  theirs = _compile(
    work / 'theirs',
    address,
    mnist_dir,
    root,
    '--accuracy-threshold',
    '0.5',
    '--pipeline-name',
    'team-b',
    '--serving-dir',
    str(work / 'serving-b'),
  )
  worse = _compile(
    work / 'worse',
    address,
    mnist_dir,
    root,
    '--accuracy-threshold',
    '0.1',
    '--train-examples',
    '60',
  )
  runs = {'first': standin.run(ours, root, ONE_EPOCH)}
  runs['theirs'] = standin.run(theirs, root)  # blesses a model after ours, in the same store
  runs['rerun'] = standin.run(ours, root, ONE_EPOCH)
  runs['worse'] = standin.run(worse, root)
  return store, root, work, runs


def test_first_run_completes_every_task_and_pushes(kfp):
  store, root, _, runs = kfp
  run = runs['first']
  assert _states(run) == {name: 'COMPLETE' for name in TASKS}
  # Outputs at KFP 2.14's URIs: <root>/<pipeline>/<run>/<task>/<uuid>/<output>.
  model = run.output('Trainer', 'model')
  assert re.fullmatch(rf'{root}/mnist-tfx/{run.run_id}/Trainer/[0-9a-f-]{{36}}/model', model['uri'])
  assert os.path.exists(os.path.join(model['uri'], 'Format-Serving', 'saved_model.pb'))
  baseline = run.output('BaselineModel', 'model')
  assert baseline['metadata']['baseline_kind'] == 'candidate'
  blessing = run.output('Evaluator', 'blessing')
  assert blessing['metadata']['blessed'] == 1.0  # numbers come back as doubles
  assert blessing['metadata']['pipeline_name'] == 'mnist-tfx'
  # The serving check ran as a container task, in its own process, on the eval split.
  infra = run.output('ServingCheck', 'blessing')
  assert infra['metadata']['blessed'] == 1.0 and infra['metadata']['latency_p99_ms'] > 0
  check = read_serving_result(infra['uri'])
  assert check['passed'] and check['examples'] == check['evaluator_examples'] == 500
  assert abs(check['accuracy_classify'] - check['evaluator_accuracy']) < 1e-6
  pushed = run.output('Pusher', 'pushed_model')
  assert pushed['metadata']['pushed'] == 1.0
  assert versions(f'{root}/serving') == [int(pushed['metadata']['pushed_version'])]
  # Log publishing on: each task's log recorded beside its outputs, the TFX ones untouched.
  for name in TASKS:
    logs = run.output(name, LOGS_KEY)
    assert logs['metadata']['display_name'] == LOGS_KEY and 'store_session_info' in logs['metadata']
    assert os.path.isfile(logs['uri'])
  assert model['metadata']['store_session_info'].startswith('{"Provider":')


def test_example_gen_writes_splits_and_digests(kfp):
  _, _, _, runs = kfp
  examples = runs['first'].output('MnistExampleGen', 'examples')
  metadata = examples['metadata']
  assert metadata['sha256_train_images'].startswith('ba891046')
  assert metadata['train_examples'] == 2000 and metadata['eval_examples'] == 500
  assert json.loads(metadata['split_names']) == ['train', 'eval']
  for split in ('train', 'eval'):
    files = os.listdir(os.path.join(examples['uri'], f'Split-{split}'))
    assert files and all(f.endswith('.gz') for f in files)


def test_trainer_trains_with_the_epochs_parameter_and_exports(kfp):
  _, _, _, runs = kfp
  run = runs['first']
  model_uri = run.output('Trainer', 'model')['uri']
  with open(os.path.join(run.output('Trainer', 'model_run')['uri'], 'history.json')) as f:
    history = json.load(f)
  assert len(history['accuracy']) == 1, 'the epochs=1 parameter overrides the compiled 2'
  assert os.path.exists(os.path.join(model_uri, 'Format-Serving', 'saved_model.pb'))
  assert set(run.tasks['Trainer'].outputs) == {'model', 'model_run', LOGS_KEY}


def test_kfp_naming_in_ml_metadata(kfp):
  store, root, _, runs = kfp
  run = runs['first']
  pipeline = store.get_context_by_type_and_name('system.Pipeline', 'mnist-tfx')
  run_context = store.get_context_by_type_and_name('system.PipelineRun', run.run_id)
  assert [c.id for c in store.get_parent_contexts_by_context(run_context.id)] == [pipeline.id]
  executions = store.get_executions_by_context(run_context.id)
  names = {e.custom_properties['task_name'].string_value for e in executions}
  assert names == TASKS | {''}  # '' is the root DAG execution
  types = {
    store.get_artifact_types_by_id([a.type_id])[0].name
    for a in store.get_artifacts_by_context(run_context.id)
  }
  assert {'tfx.Examples', 'tfx.Model', 'tfx.ModelBlessing', 'tfx.PushedModel'} <= types


def test_another_pipelines_newer_blessing_is_never_the_baseline(kfp):
  store, _, work, runs = kfp
  theirs = runs['theirs']
  # team-b had never blessed anything: its own candidate, though mnist-tfx's blessing exists.
  assert theirs.output('BaselineModel', 'model')['metadata']['baseline_kind'] == 'candidate'
  assert theirs.output('Evaluator', 'blessing')['metadata']['blessed'] == 1.0
  assert len(versions(str(work / 'serving-b'))) == 1
  # mnist-tfx's rerun: its cached candidate is the first run's model, whose own blessing never
  # counts, and team-b's newer one does not either; the worse run (below) gets the first model.
  baseline = runs['rerun'].output('BaselineModel', 'model')['metadata']
  assert baseline['baseline_kind'] == 'candidate'
  assert baseline['baseline_source'] == runs['first'].output('Trainer', 'model')['uri']


def _check_cached_rerun(first, rerun):
  """An unchanged rerun: the lookup runs and names the same baseline, a parameter; everything
  else is a cache hit (KFP keys input artifacts by MLMD id: a baseline artifact made anew each
  run would make the Evaluator and all after it run again), so the Pusher's output is the first
  run's push and nothing new is pushed."""
  assert _states(rerun) == {
    task: 'COMPLETE' if task == LOOKUP else 'CACHED' for task in _states(first)
  }
  assert rerun.tasks[LOOKUP].parameters == first.tasks[LOOKUP].parameters
  for task in set(first.tasks) - {LOOKUP}:
    assert rerun.tasks[task].outputs == first.tasks[task].outputs, task


def test_identical_rerun_is_cached_and_pushes_no_new_version(kfp):
  store, root, _, runs = kfp
  rerun = runs['rerun']
  _check_cached_rerun(runs['first'], rerun)
  first_uri = runs['first'].output('Trainer', 'model')['uri']
  assert rerun.tasks[LOOKUP].parameters == {'baseline_uri': first_uri}  # no other blessed model
  first_version = runs['first'].output('Pusher', 'pushed_model')['metadata']['pushed_version']
  assert versions(f'{root}/serving') == [int(first_version)]


def test_a_regressing_model_is_not_pushed(kfp):
  store, root, _, runs = kfp
  worse = runs['worse']
  assert _states(worse)['Trainer'] == 'COMPLETE'
  blessing = worse.output('Evaluator', 'blessing')['metadata']
  assert blessing['blessed'] == 0.0
  assert (
    worse.output('BaselineModel', 'model')['metadata']['baseline_source']
    == runs['first'].output('Trainer', 'model')['uri']
  )
  assert worse.output('Pusher', 'pushed_model')['metadata']['pushed'] == 0.0
  first_version = runs['first'].output('Pusher', 'pushed_model')['metadata']['pushed_version']
  assert versions(f'{root}/serving') == [int(first_version)]


def test_open_source_kfp_refuses_the_vertex_package(tmp_path, mlmd_service, mnist_dir):
  address, store = mlmd_service
  job = _compile(tmp_path / 'v', address, mnist_dir, str(tmp_path / 'root'), target='vertex')
  with pytest.raises(RunFailed, match='resolver not implemented yet'):
    KfpStandIn(store, str(tmp_path / 'backend')).run(job['pipelineSpec'], 's3://bucket/root')


def test_open_source_kfp_refuses_a_local_pipeline_root(tmp_path, mlmd_service, compiled):
  _, spec = compiled
  with pytest.raises(RunFailed, match='unrecognized pipeline root format'):
    KfpStandIn(mlmd_service[1], str(tmp_path / 'backend')).run(spec, str(tmp_path / 'root'))


def test_results_in_the_shapes_the_kfp_ui_renders(kfp):
  """kubeflow/pipelines frontend/src/components/viewers/MetricsVisualizations.tsx picks an
  execution's outputs by ML Metadata type name, needs `display_name`, shows system.Metrics'
  numbers as a table, reads `confusionMatrix.struct` {annotationSpecs, rows} for
  system.ClassificationMetrics, and the one file at a system.HTML artifact's URI."""
  from google.protobuf import json_format

  store, _, _, runs = kfp
  run = runs['first']
  assert run.tasks['RunResults'].state == 'COMPLETE'

  def recorded(key):
    [artifact] = store.get_artifacts_by_id([int(run.output('RunResults', key)['name'])])
    type_name = store.get_artifact_types_by_id([artifact.type_id])[0].name
    assert artifact.custom_properties['display_name'].string_value == key
    return type_name, artifact

  type_name, metrics = recorded('metrics')
  assert type_name == 'system.Metrics'
  assert metrics.custom_properties['servable'].double_value == 1.0
  assert metrics.custom_properties['serving_latency_p99_ms'].double_value > 0
  accuracy = metrics.custom_properties['accuracy'].double_value
  assert 0.5 <= accuracy <= 1 and metrics.custom_properties['blessed'].double_value == 1.0
  assert metrics.custom_properties['accuracy_threshold'].double_value == 0.5
  assert metrics.custom_properties['eval_examples'].double_value == 500

  type_name, confusion = recorded('confusion_matrix')
  assert type_name == 'system.ClassificationMetrics'
  matrix = json_format.MessageToDict(confusion.custom_properties['confusionMatrix'].struct_value)[
    'struct'
  ]
  assert [spec['displayName'] for spec in matrix['annotationSpecs']] == [str(i) for i in range(10)]
  rows = [row['row'] for row in matrix['rows']]
  assert len(rows) == 10 and all(len(row) == 10 for row in rows)
  assert sum(map(sum, rows)) == 500
  assert abs(sum(rows[i][i] for i in range(10)) / 500 - accuracy) < 1e-6  # the same as TFMA's

  type_name, report = recorded('report')
  assert type_name == 'system.HTML'
  assert os.path.isfile(report.uri), 'the UI reads one object at the URI, not a folder'
  with open(report.uri) as f:
    page = f.read()
  assert page.startswith('<!DOCTYPE html>') and f'Test accuracy <b>{accuracy:.4f}</b>' in page
  # How the model was made: the settings the tasks ran with, passed to RunResults as parameters.
  for setting, value in (
    ('epochs', '1'),
    ('train_examples', '2000'),
    ('eval_examples', '500'),
    ('accuracy_threshold', '0.5'),
    ('dataset', 'mnist'),
  ):
    assert f'<tr><td>{setting}</td><td><code>{value}</code></td></tr>' in page, setting
  assert '<tr><td>TFX</td><td>1.16.0</td></tr>' in page  # the image's versions are the run's


@pytest.mark.parametrize('release', ['2.17.0', 'vertex'])
def test_whole_run_on_an_s3_root(tmp_path, mlmd_service, mnist_dir, s3_server, release):
  """Every task reads and writes s3:// (a loopback S3-compatible server), with only the AWS
  variables a MinIO secret provides: data, artifacts, the pushed model and the report. KFP's
  newest release (with its default log publishing) and Vertex; each older release's rules are
  the module fixture's (2.14) and test_kfp_standin_self_checks.py's, 2.0.5 on. The newest
  release's identical rerun is cached from end to end. Vertex: the ExampleGen driver hook runs,
  and on the rerun TFX's resolver finds this pipeline's blessing and the unchanged model is not
  pushed again."""
  from tests.conftest import s3_client, s3_keys

  address, store = mlmd_service
  client = s3_client(s3_server)
  for name in sorted(os.listdir(mnist_dir)):
    if name.endswith('.gz'):
      client.upload_file(os.path.join(mnist_dir, name), 'mnist-tfx', f'data/mnist/{name}')
  target = 'vertex' if release == 'vertex' else 'kfp'
  prefix = release.replace('.', '-')
  root, name = f's3://mnist-tfx/{prefix}', f'{prefix}-on-s3'
  spec = _compile(
    tmp_path / 's3',
    address,
    's3://mnist-tfx/data/mnist',
    root,
    '--pipeline-name',
    name,
    '--accuracy-threshold',
    '0.5',
    target=target,
  )
  standin = KfpStandIn(
    store,
    str(tmp_path / 'backend'),
    env=s3_server,
    vertex=target == 'vertex',
    profile=None if target == 'vertex' else PROFILES[release],
  )
  first = standin.run(spec, root)
  expected = (
    TASKS
    if target == 'kfp'
    else TASKS - {LOOKUP, 'BaselineModel'}
    | {
      'LatestBlessedModelResolver-model-blessing-resolver',
      'LatestBlessedModelResolver-model-resolver',
    }
  )
  assert _states(first) == {task: 'COMPLETE' for task in expected}
  model_uri = first.output('Trainer', 'model')['uri']
  assert re.fullmatch(rf'{root}/{name}/{first.run_id}/Trainer/[0-9a-f-]{{36}}/model', model_uri)
  keys = s3_keys(s3_server, f'{prefix}/')
  assert f'{model_uri[len("s3://mnist-tfx/") :]}/Format-Serving/saved_model.pb' in keys
  if release == '2.17.0':  # each task's log, uploaded by the launcher, for the first attempt
    logs = {task: first.output(task, LOGS_KEY)['uri'] for task in expected}
    for task, uri in logs.items():
      assert re.fullmatch(
        rf'{root}/{name}/{first.run_id}/{task}/[0-9a-f-]{{36}}/executor-logs-0', uri
      )
      assert uri[len('s3://mnist-tfx/') :] in keys
    assert (
      'Starting executor'
      in s3_client(s3_server)
      .get_object(Bucket='mnist-tfx', Key=logs['Trainer'][len('s3://mnist-tfx/') :])['Body']
      .read()
      .decode()
    )
  else:
    assert not [key for key in keys if LOGS_KEY in key]
  assert first.output('Evaluator', 'blessing')['metadata']['blessed'] == 1.0
  if target == 'vertex':
    assert first.tasks['LatestBlessedModelResolver-model-resolver'].outputs['model'] == []
    [gen] = store.get_executions_by_id([first.tasks['MnistExampleGen'].execution_id])
    inputs = gen.custom_properties['inputs'].struct_value  # the driver hook ran
    assert inputs['span'] == 0 and inputs['input_fingerprint'].startswith(
      'split:train,num_files:2,'
    )
    assert 'split:eval,num_files:2,' in inputs['input_fingerprint']
  examples = first.output('MnistExampleGen', 'examples')
  assert examples['metadata']['sha256_train_images'].startswith('ba891046')
  assert examples['metadata']['train_examples'] == 2000
  assert examples['metadata']['eval_examples'] == 500
  for split in ('train', 'eval'):
    assert any(
      key.startswith(f'{examples["uri"][len("s3://mnist-tfx/") :]}/Split-{split}/') for key in keys
    )
  version = first.output('Pusher', 'pushed_model')['metadata']['pushed_version']
  serving = s3_keys(s3_server, f'{prefix}/serving/')
  assert f'{prefix}/serving/{version}/saved_model.pb' in serving
  assert f'{prefix}/serving/{version}/assets.extra/pushed_from.json' in serving
  assert not [key for key in serving if '.pushing-' in key], 'no staging copy is left behind'
  report = first.output('RunResults', 'report')['uri']
  assert report.startswith(f'{root}/{name}/')
  page = client.get_object(Bucket='mnist-tfx', Key=report[len('s3://mnist-tfx/') :])['Body'].read()
  assert page.startswith(b'<!DOCTYPE html>')

  second = standin.run(spec, root)
  if target == 'kfp':
    _check_cached_rerun(first, second)
  else:  # TFX's resolver returns the newest blessed model: the candidate, so the Evaluator reruns
    assert second.tasks['Trainer'].state == 'CACHED'
    [baseline] = second.tasks['LatestBlessedModelResolver-model-resolver'].outputs['model']
    assert baseline['uri'] == model_uri
    assert second.output('Pusher', 'pushed_model')['metadata'][names.ALREADY_SERVING] == version
  assert {key.split('/')[2] for key in s3_keys(s3_server, f'{prefix}/serving/')} == {version}


def test_metadata_cli_reads_the_kfp_store_over_grpc(kfp, mlmd_service, s3_server):
  """`python -m inspection --grpc-host …` on what KFP records: runs, states, the push
  (the store may also hold the s3:// runs of this module: the CLI reads those with the same
  variables a pod has)."""
  import subprocess
  import sys

  from tests.conftest import REPO

  address, _ = mlmd_service
  store, _, _, runs = kfp
  host, port = address.rsplit(':', 1)

  def cli(*args):
    proc = subprocess.run(
      [sys.executable, '-m', 'inspection', '--grpc-host', host, '--grpc-port', port, *args],
      cwd=REPO,
      capture_output=True,
      text=True,
      timeout=300,
      env=dict(os.environ, PYTHONPATH=REPO, **s3_server),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout

  listed = {run['run_id']: run for run in json.loads(cli('--json', 'runs'))}
  first = listed[runs['first'].run_id]
  assert set(first['component_states']) == TASKS
  assert first['blessed'] is True and first['accuracy'] > 0.5
  version = runs['first'].output('Pusher', 'pushed_model')['metadata']['pushed_version']
  assert first['pushed_version'] == version
  rerun = listed[runs['rerun'].run_id]  # a cached Pusher: nothing pushed, the version still serves
  assert rerun['component_states'] == {
    task: 'COMPLETE' if task == LOOKUP else 'CACHED' for task in TASKS
  }
  assert rerun['pushed_version'] is None and rerun['already_serving'] == version
  worse = listed[runs['worse'].run_id]  # the candidate, not BaselineModel's copy
  assert worse['uris']['Model'] == runs['worse'].output('Trainer', 'model')['uri']
  assert not [kind for kind in first['uris'] if kind.startswith('system.')]  # no executor-logs
  lineage = cli('lineage', version)
  train_images_sha256 = 'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db'
  assert 'Trainer' in lineage and 'MnistExampleGen' in lineage and train_images_sha256 in lineage


# ---------------------------------------------------------------- multi-user: the store refuses

NAMESPACE = 'kubeflow-user-example-com'
EXAMPLE_GEN = ['MnistExampleGen']  # a task with no upstream: the cheap way to meet the store
TO_STATISTICS = ['MnistExampleGen', 'ImportSchemaGen', 'StatisticsGen']  # the first Beam file write


def compile_on_mlpipeline(folder, mlmd_address):
  """The pipeline compiled onto KFP's own bucket, `mlpipeline`, its data in `shared/` (which every
  profile's credentials reach); the root is each run's own (the OSS backend ignores the compiled
  one)."""
  return _compile(
    folder, mlmd_address, 's3://mlpipeline/shared/mnist', 's3://mlpipeline/artifacts/compiled'
  )


@pytest.mark.parametrize('tag', ['2.16.1', '2.17.0'])  # 2.15.0's policy: test_profile_store.py
def test_multi_user_refusals_come_from_the_store_and_reach_our_code(
  tag, tmp_path, mlmd_service, profile_store
):
  """The pods hold their profile's keys (sync.py); the store enforces the release's policy as its
  SeaweedFS reads it. A root in another namespace's prefix, or in another bucket, is refused to
  ExampleGen's own write. In the profile's prefix, ExampleGen (TensorFlow's writes) completes on
  every release; StatisticsGen, whose statistics TFDV writes through Beam's file sink (temporary
  files, then a copy and a batch delete), completes on 2.17 and is refused the batch delete on
  2.15 and 2.16, which compile refuses first."""
  from kubeflow import arguments
  from tests.kubeflow import profile_store as policies

  admin = profile_store.client('s3', profile_store.admin)
  if 'mnist-tfx' not in [b['Name'] for b in admin.list_buckets()['Buckets']]:
    admin.create_bucket(Bucket='mnist-tfx')
  spec = compile_on_mlpipeline(tmp_path / 'compiled', mlmd_service[0])
  env = profile_store.profile(NAMESPACE, policies.as_enforced(tag, NAMESPACE))

  def run(root, only, run_id=None):
    standin = KfpStandIn(
      mlmd_service[1],
      str(tmp_path / 'backend' / root.replace('/', '_')),
      namespace=NAMESPACE,
      env=env,
      profile=PROFILES[tag],
    )
    return standin.run(spec, root, run_id=run_id, only=only)

  outside = ['s3://mlpipeline/private-artifacts/someone-else/r', 's3://mnist-tfx/r']
  for root in outside if tag == '2.17.0' else []:
    with pytest.raises(RunFailed, match='AccessDenied') as e:
      run(root, EXAMPLE_GEN)
    assert 'MnistExampleGen failed' in str(e.value)
  own = f's3://mlpipeline/private-artifacts/{NAMESPACE}/{tag}'
  if tag == '2.17.0':
    assert _states(run(own, TO_STATISTICS)) == {task: 'COMPLETE' for task in TO_STATISTICS}
    arguments.check_release_locations(tag, NAMESPACE, {'--pipeline-root': own})
    return
  run_id = f'refused-{tag}'
  with pytest.raises(RunFailed, match='AccessDenied') as e:
    run(own, TO_STATISTICS, run_id)
  assert str(e.value).startswith('StatisticsGen failed')
  context = mlmd_service[1].get_context_by_type_and_name('system.PipelineRun', run_id)
  states = {
    e.custom_properties['task_name'].string_value: e.last_known_state
    for e in mlmd_service[1].get_executions_by_context(context.id)
  }
  assert states['MnistExampleGen'] == states['ImportSchemaGen'] == mlmd.Execution.COMPLETE
  with pytest.raises(ValueError, match="batch deletes that Beam's file renames need"):
    arguments.check_release_locations(tag, NAMESPACE, {'--pipeline-root': own})
