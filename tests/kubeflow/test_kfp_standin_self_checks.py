"""Self-checks of the KFP stand-in (kfp_standin.py): each release's Profile, as the stand-in plays
it, checked against that same table. These test the stand-in, not our code: they keep its rules
(output URIs and names, executor-logs and its retry suffix, outputFile, store_session_info, the
cache, the log of a failed task) honest across releases, on the cheap path: ExampleGen alone,
run twice (a run, then its cached rerun), which meets every rule a release changes. What a
release's store allows is not the stand-in's to decide (test_kfp_standin.py, profile_store.py)."""

import json
import os
import re

import pytest

from tests.kubeflow.kfp_standin import LOGS_KEY, PROFILES, KfpStandIn, RunFailed
from tests.kubeflow.test_kfp_standin import _states, compile_on_mlpipeline

pytestmark = pytest.mark.slow

# One task with no upstream: its outputs carry every rule a release changes. What a consumer makes
# of them (store_session_info, names) is each release's unit test in test_entrypoint.py and the
# whole runs under 2.14.0 and 2.17.0 in test_kfp_standin.py.
PREFIX = ['MnistExampleGen']
NAMESPACE = 'kubeflow-user-example-com'
BUCKET = 'mlpipeline'


@pytest.fixture(scope='module')
def on_mlpipeline(tmp_path_factory, mlmd_service, s3_server, mnist_dir):
  """The pipeline compiled onto `mlpipeline`, its data in `shared/mnist/` of the plain loopback
  store (no policy: these checks are about the stand-in's own rules)."""
  from tests.conftest import s3_client

  client = s3_client(s3_server)
  if BUCKET not in [b['Name'] for b in client.list_buckets()['Buckets']]:
    client.create_bucket(Bucket=BUCKET)
  for name in sorted(os.listdir(mnist_dir)):
    if name.endswith('.gz'):
      client.upload_file(os.path.join(mnist_dir, name), BUCKET, f'shared/mnist/{name}')
  return compile_on_mlpipeline(tmp_path_factory.mktemp('mlpipeline'), mlmd_service[0])


@pytest.mark.parametrize('tag', ['2.0.5', '2.3.0', '2.4.0', '2.5.0', '2.15.0', '2.16.1'])
def test_self_check_each_release_on_the_cheap_path(
  tag, tmp_path, mlmd_service, s3_server, on_mlpipeline
):
  """ExampleGen and its cached rerun, under one release's Profile: where outputs go and what they
  are named, executor-logs (with its retry suffix from 2.16.1), where outputFile goes,
  store_session_info on what is recorded (and so handed downstream), the cache."""
  from tests.conftest import s3_client
  from tests.kubeflow import kfp_standin

  store = mlmd_service[1]
  profile = PROFILES[tag]
  root = f's3://{BUCKET}/artifacts/{tag}'
  standin = KfpStandIn(
    store, str(tmp_path / 'backend'), namespace=NAMESPACE, env=s3_server, profile=profile
  )
  first = standin.run(on_mlpipeline, root, only=PREFIX)
  assert _states(first) == {task: 'COMPLETE' for task in PREFIX}

  examples = first.output('MnistExampleGen', 'examples')
  salt = '[0-9a-f-]{36}/' if profile.salted_uris else ''
  assert re.fullmatch(
    rf'{root}/mnist-tfx/{first.run_id}/MnistExampleGen/{salt}examples', examples['uri']
  )
  listed = s3_client(s3_server).list_objects_v2(Bucket=BUCKET, Prefix=f'artifacts/{tag}/')
  keys = [item['Key'] for item in listed['Contents']]
  assert any(
    key.startswith(examples['uri'][len(f's3://{BUCKET}/') :] + '/Split-train/') for key in keys
  )
  log_name = LOGS_KEY + ('-0' if profile.retry_qualified_logs else '')
  logs = [key for key in keys if key.endswith('/' + log_name)]
  assert len(logs) == (len(PREFIX) if profile.publish_logs else 0)
  assert (LOGS_KEY in first.tasks['MnistExampleGen'].outputs) == profile.publish_logs

  # outputs.outputFile: the task root's local path from 2.15.0, else the fixed pod path.
  pod = tmp_path / 'backend' / 'pods' / first.run_id / 'MnistExampleGen'
  if profile.task_root_layout:
    task_root = examples['uri'].rsplit('/', 1)[0]
    written = pod / kfp_standin.local_path_for_uri(task_root).lstrip('/') / 'output_metadata.json'
  else:
    written = pod / kfp_standin.LEGACY_OUTPUT_FILE.lstrip('/')
  assert (
    json.loads(written.read_text())['artifacts']['examples']['artifacts'][0]['uri']
    == examples['uri']
  )

  # What downstream tasks are handed (from ML Metadata) carries store_session_info from 2.3.0.
  assert ('store_session_info' in examples['metadata']) == profile.store_session_info
  assert examples['metadata']['display_name'] == 'examples'

  second = standin.run(on_mlpipeline, root, only=PREFIX)
  assert _states(second) == {task: 'CACHED' for task in PREFIX}
  assert second.output('MnistExampleGen', 'examples') == examples


def test_self_check_a_failed_task_records_its_log_from_2_16(
  tmp_path, mlmd_service, s3_server, on_mlpipeline
):
  """launcher_v2.go uploadOutputArtifacts(componentSucceeded=false) records executor-logs alone
  from 2.16.0; 2.15.0 records no output of a failed task. (The failure: a data dir with no
  files, met by ExampleGen's own reader.)"""
  from ml_metadata.proto import metadata_store_pb2 as mlmd

  store = mlmd_service[1]
  for tag, recorded in (('2.15.0', set()), ('2.16.0', {LOGS_KEY})):
    standin = KfpStandIn(
      store, str(tmp_path / tag), namespace=NAMESPACE, env=s3_server, profile=PROFILES[tag]
    )
    run_id = f'failing-{tag}'
    with pytest.raises(RunFailed, match='MnistExampleGen failed'):
      standin.run(
        on_mlpipeline,
        f's3://{BUCKET}/artifacts/failing',
        {'data_dir': f's3://{BUCKET}/shared/no-such-data'},
        run_id=run_id,
        only=PREFIX,
      )
    context = store.get_context_by_type_and_name('system.PipelineRun', run_id)
    [failed] = [
      e
      for e in store.get_executions_by_context(context.id)
      if e.last_known_state == mlmd.Execution.FAILED
    ]
    outputs = [
      e for e in store.get_events_by_execution_ids([failed.id]) if e.type == mlmd.Event.OUTPUT
    ]
    assert {e.path.steps[0].key for e in outputs} == recorded
