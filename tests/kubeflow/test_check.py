"""`python -m kubeflow check` against a stand-in of the KFP API's health check
(tests/kubeflow/kfp_api_standin.py) and offline, kubeflow/releases.py's rules, and the guide's
providers YAML against both (the version table: test_release_table.py)."""

import socket

import pytest
import yaml

from kubeflow import check, releases
from kubeflow.upload import UploadError, UsageError
from tests.kubeflow import kfp_api_standin
from tests.kubeflow.conftest import run_cli

# backend/src/v2/config/s3.go (2.17.0) json tags: S3ProviderConfig, S3ProviderDefault,
# S3Credentials, S3SecretRef; env.go BucketProviders keys.
S3_GO = {
  'providers': {'minio', 's3', 'gs'},
  'S3ProviderConfig': {'default', 'Overrides'},
  'S3ProviderDefault': {
    'endpoint',
    'credentials',
    'region',
    'disableSSL',
    'forcePathStyle',
    'maxRetries',
  },
  'S3Credentials': {'fromEnv', 'secretRef'},
  'S3SecretRef': {'secretName', 'accessKeyKey', 'secretKeyKey'},
}


def _check_s3_go_shape(providers):
  """Every level s3.go reads, and no key sigs.k8s.io/yaml would silently drop."""
  assert set(providers) <= S3_GO['providers']
  assert set(providers['s3']) <= S3_GO['S3ProviderConfig'] and 'default' in providers['s3']
  default = providers['s3']['default']
  assert set(default) <= S3_GO['S3ProviderDefault'] and {'endpoint', 'credentials'} <= set(default)
  assert set(default['credentials']) == S3_GO['S3Credentials']
  assert default['credentials']['fromEnv'] is False
  assert set(default['credentials']['secretRef']) == S3_GO['S3SecretRef']
  return default


def _plan(tag, multi_user, namespace=None, tag_name=None, **kw):
  server, url = kfp_api_standin.serve(tag, multi_user, tag_name)
  lines = []
  try:
    check.run(url, namespace, 5.0, log=lines.append, **kw)
  finally:
    server.shutdown()
  assert server.requests and set(server.requests) == {releases.HEALTHZ_PATH}
  return lines


def _launcher_patch(lines):
  """(the kubectl patch line, the patch file's content parsed, its providers parsed)."""
  text = '\n'.join(lines)
  [kubectl] = [line.strip() for line in lines if line.strip().startswith('kubectl ')]
  block = text[text.index('  data:') : text.index("Pods' environment")]
  patch = yaml.safe_load(
    '\n'.join(line for line in block.splitlines() if not line.startswith('  ('))
  )
  return kubectl, patch, yaml.safe_load(patch['data']['providers'])


def _root(lines):
  [root_line] = [line for line in lines if line.startswith('Pipeline root: ')]
  return root_line.split()[2]


def test_plan_for_2_0_has_no_providers_and_no_in_cluster_root():
  lines = _plan('2.0.5', False)
  assert lines[0].endswith('tag_name 2.0.5, multi_user false')
  text = '\n'.join(lines)
  assert 'providers' in text and 'no providers setting on 2.0' in text
  assert "cannot hold this pipeline's root" in text and '--pipeline-root gs://BUCKET/mnist' in text
  assert 'PUBLISH_LOGS: not on 2.0' in text
  assert 'HTML report: no session info' in text


def test_plan_for_2_5_single_user_minio():
  lines = _plan('2.5.0', False)
  kubectl, patch, providers = _launcher_patch(lines)
  assert kubectl == (
    'kubectl -n kubeflow patch configmap kfp-launcher --type merge '
    '--patch "$(cat kfp-launcher-providers.yaml)"'
  )
  assert list(patch) == ['data'] and list(patch['data']) == ['providers']  # other keys kept
  assert _root(lines) == 's3://mlpipeline/mnist'
  default = _check_s3_go_shape(providers)
  assert default['endpoint'] == 'minio-service.kubeflow:9000' and default['forcePathStyle'] is True
  text = '\n'.join(lines)
  assert 'AWS_ENDPOINT_URL=http://minio-service.kubeflow:9000' in text
  assert 'PUBLISH_LOGS: keep the stock "true"' in text
  assert 'HTML report: yes' in text


def test_plan_for_2_15_multi_user_uses_a_bucket_of_its_own():
  """SeaweedFS 4.00 refuses a profile the batch deletes of Beam's renames in mlpipeline
  (test_profile_store.py meets the refusal): the plan's root is a bucket the admin grants."""
  lines = _plan('2.15.0', True, 'team-a')
  kubectl, _, providers = _launcher_patch(lines)
  assert kubectl.startswith('kubectl -n team-a patch configmap kfp-launcher ')
  root = _root(lines)
  assert root == 's3://mnist-team-a/mnist'
  [grant] = [line for line in lines if 'a bucket of its own' in line]
  assert grant.endswith(releases.grant_own_bucket('team-a'))
  assert 's3.configure -user team-a -buckets mnist-team-a -actions Read,Write,List' in grant
  assert _root(_plan('2.17.0', True, 'team-a')) == 's3://mlpipeline/private-artifacts/team-a/mnist'
  assert _check_s3_go_shape(providers)['endpoint'] == 'seaweedfs.kubeflow:8333'
  text = '\n'.join(lines)
  assert f'--kfp-version 2.15 --multi-user team-a --pipeline-root {root}' in text
  assert 'anything else is AccessDenied' in text


def test_plan_for_2_17_seaweedfs_and_the_report():
  lines = _plan('2.17.0', False)
  _, _, providers = _launcher_patch(lines)
  assert providers['s3']['default']['endpoint'] == 'seaweedfs.kubeflow:8333'
  assert "HTML report: yes in the UI's own namespace" in '\n'.join(lines)
  multi = '\n'.join(_plan('2.17.0', True, 'team-a'))
  assert 'HTML report: no session info in a profile namespace' in multi


def test_plan_for_2_3_has_no_force_path_style():
  _, _, providers = _launcher_patch(_plan('2.3.0', False))
  assert 'forcePathStyle' not in _check_s3_go_shape(providers)


def test_multi_user_needs_a_namespace_and_unknown_tags_need_a_version():
  server, url = kfp_api_standin.serve('2.15.0', True)
  try:
    with pytest.raises(UsageError, match='multi-user: pass --namespace'):
      check.run(url, None, 5.0, log=lambda _: None)
    with pytest.raises(UsageError, match='not a Kubernetes namespace'):
      check.run(url, 'Team_A', 5.0, log=lambda _: None)
  finally:
    server.shutdown()
  # An image built without TAG_NAME answers "unknown" (backend/Dockerfile).
  server, url = kfp_api_standin.serve('2.16.0', False, tag_name='unknown')
  try:
    with pytest.raises(UsageError, match="tag_name 'unknown'.*pass --kfp-version X.Y"):
      check.run(url, None, 5.0, log=lambda _: None)
  finally:
    server.shutdown()
  lines = _plan('2.16.0', False, tag_name='unknown', kfp_version='2.16')
  assert lines[1] == 'Kubeflow Pipelines 2.16, single-user'


def test_unreachable_host_is_one_line():
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
  with pytest.raises(UploadError) as e:
    check.run(f'http://127.0.0.1:{port}', None, 2.0, log=lambda _: None)
  assert 'cannot reach the Kubeflow Pipelines API' in str(e.value) and '\n' not in str(e.value)


def test_offline_plan_for_a_release_and_a_profile():
  lines = []
  check.run(None, None, 5.0, kfp_version='2.16', multi_user_namespace='ns', log=lines.append)
  assert lines[0] == (
    'Offline plan for Kubeflow Pipelines 2.16, multi-user (nothing was asked of a cluster)'
  )
  assert lines[1:] == check.plan((2, 16), True, 'ns')
  assert _root(lines) == 's3://mnist-ns/mnist'
  single = []
  check.run(None, None, 5.0, kfp_version='2.5.0', log=single.append)
  assert single[1:] == check.plan((2, 5), False, None)


@pytest.mark.parametrize(
  'kw, message',
  [
    ({}, 'pass --host URL'),
    ({'multi_user_namespace': 'ns'}, 'pass --host URL'),
    ({'kfp_version': '2.16', 'namespace': 'ns'}, '--namespace goes with --host'),
    ({'kfp_version': '2.9'}, 'there is no Kubeflow Pipelines 2.9'),
    ({'kfp_version': '2.16', 'multi_user_namespace': 'Team_A'}, 'not a Kubernetes namespace'),
  ],
)
def test_offline_usage_errors(kw, message):
  kw = {'namespace': None, **kw}
  with pytest.raises(UsageError, match=message):
    check.run(None, kw.pop('namespace'), 5.0, log=lambda _: None, **kw)


@pytest.mark.slow  # a process that imports the CLI: a few seconds
def test_cli_offline_check_needs_no_cluster(tmp_path):
  proc = run_cli('check', '--kfp-version', '2.17', '--multi-user', 'ns', cwd=str(tmp_path))
  assert proc.returncode == 0, proc.stderr
  assert 'Pipeline root: s3://mlpipeline/private-artifacts/ns/mnist' in proc.stdout
  proc = run_cli('check', cwd=str(tmp_path))
  assert proc.returncode == 2 and proc.stderr.startswith('error: pass --host URL')


def test_seaweedfs_network_policy_of_2_15_is_warned_with_the_2_16_rule():
  """2.15.0's seaweedfs-networkpolicy.yaml admits port 8333 only from profile namespaces and
  istio-system; 2.16.0 adds `from: [podSelector: {}]` on 8333 (b050f5c906). The patch printed
  adds exactly that rule."""
  import json
  import shlex

  warned = [line for line in check.plan((2, 15), False, None) if line.startswith('Warning:')]
  [line] = warned
  patch = shlex.split(line[line.index('kubectl') :])
  assert patch[:6] == ['kubectl', '-n', 'kubeflow', 'patch', 'networkpolicy', 'seaweedfs']
  [operation] = json.loads(patch[patch.index('--patch') + 1])
  assert operation == {
    'op': 'add',
    'path': '/spec/ingress/-',
    'value': {'from': [{'podSelector': {}}], 'ports': [{'port': 8333}]},
  }
  for version, multi in (((2, 15), True), ((2, 16), False), ((2, 14), False), ((2, 17), False)):
    plan = check.plan(version, multi, 'ns' if multi else None)
    assert not [line for line in plan if line.startswith('Warning:')], version


def test_profile_deletes_and_the_aws_reading_are_said_per_release():
  for version in ((2, 15), (2, 16)):
    text = '\n'.join(check.plan(version, True, 'ns'))
    assert "SeaweedFS 4.00 reads the policy's s3:Put* as its Write action" in text
    assert releases.AWS_READING_GRANTS in text
  text = '\n'.join(check.plan((2, 17), True, 'ns'))
  assert 'the policy grants s3:DeleteObject' in text and releases.AWS_READING_GRANTS not in text


def test_the_disk_rule_counts_prefix_siblings_up_to_2_16(compiled):
  """DownloadBlob lists an input's key as a prefix up to 2.16 (objectstore/object_store.go): an
  input `model` also brings `model_run`, its producer's output beside it."""
  _, spec = compiled
  tasks = spec['root']['dag']['tasks']
  for (task, key), siblings in check.PREFIX_SIBLINGS.items():
    outputs = set(
      spec['components'][tasks[task]['componentRef']['name']]['outputDefinitions']['artifacts']
    )
    assert {key, *siblings} <= outputs
    assert all(s.startswith(key) for s in siblings)
  every = [
    (task, a, b)
    for task, t in tasks.items()
    for a in spec['components'][t['componentRef']['name']]
    .get('outputDefinitions', {})
    .get('artifacts', {})
    for b in spec['components'][t['componentRef']['name']]['outputDefinitions']['artifacts']
    if a != b and b.startswith(a)
  ]
  assert {(task, a) for task, a, _ in every} == set(check.PREFIX_SIBLINGS)
  [old] = [line for line in check.plan((2, 16), False, None) if line.startswith('Disk per pod')]
  [new] = [line for line in check.plan((2, 17), False, None) if line.startswith('Disk per pod')]
  assert "Trainer's model also brings model_run" in old and 'model_run' not in new


@pytest.mark.slow  # two processes that import kfp: ~3 s each
def test_cli_check_prints_the_plan_and_refuses_a_missing_namespace():
  server, url = kfp_api_standin.serve('2.15.0', True)
  try:
    proc = run_cli('check', '--host', url, '--namespace', 'team-a', timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert 'Pipeline root: s3://mnist-team-a/mnist' in proc.stdout  # 2.15: a bucket of its own
    proc = run_cli('check', '--host', url, timeout=120)
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith('error: ') and 'pass --namespace' in line
  finally:
    server.shutdown()


@pytest.mark.parametrize(
  'text, version', [('2.5', (2, 5)), ('2.15.0', (2, 15)), ('v2.17.0-rc.1', (2, 17))]
)
def test_parse_version(text, version):
  assert releases.parse_version(text) == version


@pytest.mark.parametrize(
  'text', ['1.8.5', '3.0', 'latest', '', '2.17.0[2J', '2.17.0-[2J', '2.6', '2.13.1', '2.17.0 x']
)
def test_parse_version_refuses(text):
  with pytest.raises(ValueError, match='--kfp-version'):
    releases.parse_version(text)


def test_profile_policy_applies_from_2_15_multi_user_and_only_to_the_in_cluster_bucket():
  denied = 's3://mlpipeline/mnist-root'
  with pytest.raises(ValueError, match=r'may only use s3://mlpipeline/private-artifacts/team-a/'):
    releases.check_location('--pipeline-root', denied, (2, 15), 'team-a')
  with pytest.raises(ValueError):  # another profile's prefix
    releases.check_location(
      '--serving-dir', 's3://mlpipeline/private-artifacts/team-b/m', (2, 17), 'team-a'
    )
  for ok in (
    's3://mlpipeline/private-artifacts/team-a/mnist',
    's3://mlpipeline/shared/mnist',
    's3://mlpipeline/private/team-a/m',
    's3://other-bucket/mnist',
    'gs://mlpipeline/x',
  ):
    releases.check_location('--serving-dir', ok, (2, 15), 'team-a')
    releases.check_location('--pipeline-root', ok, (2, 17), 'team-a')
  for own in ('s3://mnist-team-a/mnist', 'gs://mlpipeline/x'):  # Beam's renames work there
    releases.check_location('--pipeline-root', own, (2, 16), 'team-a')
  with pytest.raises(ValueError, match="batch deletes that Beam's file renames need"):
    releases.check_location(
      '--pipeline-root', 's3://mlpipeline/private-artifacts/team-a/m', (2, 15), 'team-a'
    )
  releases.check_location('--pipeline-root', denied, (2, 14), 'team-a')  # no policy before 2.15
  releases.check_location('--pipeline-root', denied, (2, 17), None)  # single-user


def test_examples_readers_are_the_tasks_that_download_the_examples(compiled):
  _, spec = compiled
  readers = {
    name
    for name, task in spec['root']['dag']['tasks'].items()
    for artifact in task.get('inputs', {}).get('artifacts', {}).values()
    if artifact.get('taskOutputArtifact', {}).get('producerTask') == 'MnistExampleGen'
  }
  assert readers == set(check.EXAMPLES_READERS)


@pytest.mark.parametrize('tag', releases.TAGS_READ)
@pytest.mark.parametrize('namespace', [None, 'team-a'])
def test_the_plan_compile_flags_pass_compile_checks(tag, namespace):
  """What `check` tells to pass to `compile` is what `compile --kfp-version` accepts."""
  from kubeflow import arguments

  version = releases.parse_version(tag)
  [line] = [
    planned
    for planned in check.plan(version, namespace is not None, namespace)
    if planned.startswith('Compile flags')
  ]
  flags = line.split(': ', 1)[1].split()
  values = dict(zip(flags[::2], flags[1::2], strict=True))
  assert values['--kfp-version'] == releases.name(version)
  assert values.get('--multi-user') == namespace
  root = arguments.check_location('--pipeline-root', values['--pipeline-root'], volume_ok=False)
  arguments.check_release_locations(
    values['--kfp-version'],
    namespace,
    {
      '--pipeline-root': root,
      '--data-dir': f'{root}/data/mnist',
      '--serving-dir': f'{root}/serving',
    },
  )


def test_publish_logs_output_reaches_the_launcher_not_tfx_so_the_plan_keeps_it_on():
  """With publish_logs "true" (the stock setting from 2.5) KFP's driver adds the output
  `executor-logs`, type system.Artifact, to every task's executor input (kubeflow/pipelines
  backend/src/v2/driver/driver.go provisionOutputs, 2.5.0 to 2.17.0). TFX 1.16 cannot parse
  that type; what our entrypoint hands to TFX no longer has it, so the plan keeps the stock
  setting."""
  import json

  from google.protobuf import json_format
  from kfp.pipeline_spec import pipeline_spec_pb2
  from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils

  from kubeflow import entrypoint

  logs = {
    'name': '',
    'type': {'schemaTitle': 'system.Artifact'},
    'uri': 's3://mlpipeline/mnist/run/Trainer/executor-logs',
  }
  executor_input = {
    'inputs': {},
    'outputs': {
      'outputFile': '/tmp/kfp_outputs/output_metadata.json',
      'artifacts': {'executor-logs': {'artifacts': [logs]}},
    },
  }
  with pytest.raises(ImportError, match='system.Artifact'):  # what TFX alone would do
    kubeflow_v2_entrypoint_utils.parse_raw_artifact_dict(
      json_format.ParseDict(executor_input, pipeline_spec_pb2.ExecutorInput()).outputs.artifacts
    )
  argv = entrypoint.repair_argv(
    [
      '--executor_class_path',
      'tfx.components.trainer.executor.GenericExecutor',
      entrypoint.INVOCATION_FLAG,
      json.dumps(executor_input),
      entrypoint.INPUTS_SPEC_FLAG,
      '{}',
    ]
  )
  handed = json.loads(argv[argv.index(entrypoint.INVOCATION_FLAG) + 1])
  parsed = json_format.ParseDict(handed, pipeline_spec_pb2.ExecutorInput())
  assert dict(kubeflow_v2_entrypoint_utils.parse_raw_artifact_dict(parsed.outputs.artifacts)) == {}
  for tag in releases.TAGS_READ:
    version = releases.parse_version(tag)
    text = '\n'.join(check.plan(version, False, None))
    assert ('PUBLISH_LOGS: keep the stock "true"' in text) == (version >= (2, 5))
