"""Compiles the pipeline as `python -m kubeflow compile` does, in this process; shared fixtures."""

import contextlib
import io
import os
import subprocess
import sys

import pytest
import yaml

from tests.conftest import REPO

IMAGE = 'registry.example.com/mnist:dev'


def run_cli(*args, timeout=300, cwd=REPO):
  return subprocess.run(
    [sys.executable, '-m', 'kubeflow', *args],
    cwd=cwd,
    capture_output=True,
    text=True,
    timeout=timeout,
    env=dict(os.environ, PYTHONPATH=REPO),
  )


def _parse_compile(output, *extra):
  """`python -m kubeflow compile --output OUTPUT --image IMAGE EXTRA…` as main() parses it."""
  from kubeflow import cli
  from pipeline import flags

  argv = ['compile', '--output', output, '--image', IMAGE, *extra]
  return cli._parser().parse_args(flags.join_option_values(argv))


def compile_to(folder, *extra):
  """`python -m kubeflow compile --output FOLDER/build/pipeline.yaml --image IMAGE EXTRA…`, run
  in this process: the CLI's parser and its _compile() (every check, then compile_pipeline()),
  minus the process start (a cold `import tfx`, ~9 s) and main()'s process-wide logging settings.
  test_compile.py runs the real CLI in a subprocess and checks it writes the same spec."""
  from kubeflow import cli

  output = os.path.join(folder, 'build', 'pipeline.yaml')
  args = _parse_compile(output, *extra)
  stdout, stderr = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
    status = cli._compile(args)
  assert status == 0, stdout.getvalue() + stderr.getvalue()
  assert stdout.getvalue().startswith(f'Wrote {output} (PipelineSpec)'), stdout.getvalue()
  with open(output) as f:
    return output, yaml.safe_load(f)


def compile_on_local_root(folder, root, *extra):
  """`kubeflow compile` onto a local folder as pipeline root, which the CLI refuses (KFP's
  launcher and Vertex take only object-store roots): for stand-in runs on plain files, where
  every artifact can be looked at; also Vertex on the loopback S3 (the CLI takes only gs:// for
  Vertex). The same flags and compile_pipeline() as the CLI."""
  from kubeflow.compile import compile_pipeline
  from pipeline import config as config_lib

  output = os.path.join(folder, 'build', 'pipeline.yaml')
  args = _parse_compile(output, '--pipeline-root', 'gs://unused/root', *extra)
  config = config_lib.config_from_args(
    args,
    data_dir=args.data_dir or f'{root}/data/mnist',
    pipeline_root=root,
    serving_dir=args.serving_dir or f'{root}/serving',
    pipeline_name=args.pipeline_name,
  )
  compile_pipeline(config, IMAGE, output, target=args.target, mlmd_address=args.mlmd_address)
  with open(output) as f:
    return output, yaml.safe_load(f)


@pytest.fixture(scope='session')
def compiled(tmp_path_factory):
  """The issue's acceptance command (test_compile.py also runs it with no network at all)."""
  folder = str(tmp_path_factory.mktemp('kfp'))
  return compile_to(folder, '--pipeline-root', 'gs://bucket/root')


@pytest.fixture(scope='module')
def mlmd_service(tmp_path_factory):
  """A real ML Metadata gRPC service over a fresh SQLite store: (HOST:PORT, client store)."""
  import signal
  import time

  from ml_metadata import metadata_store
  from ml_metadata.proto import metadata_store_pb2

  folder = tmp_path_factory.mktemp('mlmd')
  port_file = folder / 'port'
  proc = subprocess.Popen(
    [
      sys.executable,
      '-m',
      'tests.kubeflow.mlmd_service',
      '--sqlite',
      str(folder / 'mlmd.sqlite'),
      '--port-file',
      str(port_file),
    ],
    cwd=REPO,
    env=dict(os.environ, PYTHONPATH=REPO),
    stdout=subprocess.DEVNULL,
    stderr=subprocess.PIPE,
    start_new_session=True,
  )
  deadline = time.monotonic() + 60
  while not port_file.exists():
    if proc.poll() is not None or time.monotonic() > deadline:
      proc.kill()
      pytest.fail(f'ML Metadata service did not start: {proc.stderr.read().decode()[-2000:]}')
    time.sleep(0.1)
  address = f'127.0.0.1:{port_file.read_text()}'
  store = metadata_store.MetadataStore(
    metadata_store_pb2.MetadataStoreClientConfig(host='127.0.0.1', port=int(port_file.read_text()))
  )
  yield address, store
  os.killpg(proc.pid, signal.SIGTERM)
  proc.wait(timeout=30)


@pytest.fixture(scope='session')
def profile_store(tmp_path_factory, mnist_dir):
  """The in-cluster store of a multi-user install (tests/kubeflow/profile_store.py): moto's S3
  server with IAM on, bucket `mlpipeline` holding the MNIST files in `shared/mnist/`, and an admin
  user for the set-up; each test makes its profiles' users with profile_store.profile()."""
  import json
  import urllib.request

  import boto3

  from tests.conftest import _moto_server, _pod_env, s3_client
  from tests.kubeflow.profile_store import BUCKET, ProfileStore

  proc, endpoint = _moto_server(
    tmp_path_factory.mktemp('moto-profiles'), {'INITIAL_NO_AUTH_ACTION_COUNT': '0'}
  )

  def auth_after(count: str) -> None:  # moto's /moto-api/reset-auth
    urllib.request.urlopen(
      urllib.request.Request(
        f'{endpoint}/moto-api/reset-auth',
        data=count.encode(),
        headers={'Content-Type': 'text/plain'},
      ),
      timeout=10,
    ).read()

  auth_after('inf')
  iam = boto3.client(
    'iam',
    endpoint_url=endpoint,
    region_name='us-east-1',
    aws_access_key_id='testing',
    aws_secret_access_key='testing',
  )
  iam.create_user(UserName='kubeflow-admin')
  key = iam.create_access_key(UserName='kubeflow-admin')['AccessKey']
  iam.put_user_policy(
    UserName='kubeflow-admin',
    PolicyName='admin',
    PolicyDocument=json.dumps(
      {'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': '*', 'Resource': '*'}]}
    ),
  )
  admin = _pod_env(endpoint, key['AccessKeyId'], key['SecretAccessKey'])
  client = s3_client(admin)
  client.create_bucket(Bucket=BUCKET)
  for name in sorted(os.listdir(mnist_dir)):
    if name.endswith('.gz'):
      client.upload_file(os.path.join(mnist_dir, name), BUCKET, f'shared/mnist/{name}')
  auth_after('0')
  yield ProfileStore(endpoint, admin)
  proc.terminate()
  proc.wait(timeout=30)
