"""Shared fixtures: where the real MNIST files are, and how to make small IDX files."""

import gzip
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from pipeline import store as store_lib
from pipeline.paths import LocalPaths
from tests.inspection.make_fixture import FIXTURE_DIR, FIXTURE_ROOT, move_artifact_uris

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Session fixtures too dear to build once per xdist worker (two pipeline runs): every module that
# uses one runs on the same worker.
SHARED_SESSION_FIXTURES = ('two_runs',)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook turns the marks into node ids
def pytest_collection_modifyitems(config, items):
  """Under `make test` (pytest-xdist, --dist loadgroup): each module is one unit of work, so its
  module fixtures are built once, and the modules sharing a SHARED_SESSION_FIXTURES fixture are
  one unit too. Units with the most slow tests go first, so that a long one does not start last
  and leave the other worker idle. Without xdist, nothing changes."""
  if not os.environ.get('PYTEST_XDIST_WORKER') or not getattr(config.option, 'loadgroup', False):
    return
  groups = {}
  for item in items:
    groups.setdefault(item.nodeid.split('::')[0], []).append(item)
  for module, members in groups.items():
    shared = [
      name for name in SHARED_SESSION_FIXTURES if any(name in item.fixturenames for item in members)
    ]
    for item in members:
      item.add_marker(pytest.mark.xdist_group(shared[0] if shared else module))
  slow = {}
  for item in items:
    group = item.get_closest_marker('xdist_group').args[0]
    slow[group] = slow.get(group, 0) + (item.get_closest_marker('slow') is not None)
  items.sort(key=lambda item: -slow[item.get_closest_marker('xdist_group').args[0]])


def real_mnist_dir() -> str:
  """Found as local_runner.py finds it: $MNIST_DATA_DIR, else the download cache that `make run`
  fills ($XDG_CACHE_HOME/mnist-tfx), else a download into that cache."""
  from components.lib import download, idx

  try:
    data_dir = download.resolve_data_dir(None)
  except idx.MnistDataError as e:
    pytest.fail(f'the tests need the real MNIST files: {e}')
  return data_dir


@pytest.fixture(scope='session')
def mnist_dir() -> str:
  return real_mnist_dir()


@pytest.fixture
def mnist_copy(tmp_path, mnist_dir) -> str:
  """A writable copy of the real MNIST folder, to break on purpose."""
  target = tmp_path / 'mnist'
  target.mkdir()
  for name in os.listdir(mnist_dir):
    if name.endswith('.gz'):
      shutil.copyfile(os.path.join(mnist_dir, name), target / name)
  return str(target)


def idx_images(images: np.ndarray, magic: int = 2051, count=None, rows=None, cols=None) -> bytes:
  n, r, c = images.shape
  header = b''.join(
    int(v).to_bytes(4, 'big')
    for v in (
      magic,
      n if count is None else count,
      r if rows is None else rows,
      c if cols is None else cols,
    )
  )
  return header + images.astype(np.uint8).tobytes()


def idx_labels(labels: np.ndarray, magic: int = 2049, count=None) -> bytes:
  header = int(magic).to_bytes(4, 'big') + int(len(labels) if count is None else count).to_bytes(
    4, 'big'
  )
  return header + labels.astype(np.uint8).tobytes()


def read_decompressed(path) -> bytes:
  with open(path, 'rb') as f:
    return gzip.decompress(f.read())


def _moto_server(log_dir, env=None):
  """(process, endpoint) of moto's server mode on a free loopback port, once it answers."""
  import re
  import subprocess
  import sys
  import time
  import urllib.request

  log_path = log_dir / 'moto.log'
  with open(log_path, 'wb') as log:  # a file, not a pipe: moto logs every request
    proc = subprocess.Popen(
      [sys.executable, '-m', 'moto.server', '-H', '127.0.0.1', '-p', '0'],
      stdout=log,
      stderr=subprocess.STDOUT,
      stdin=subprocess.DEVNULL,
      env=None if env is None else {**os.environ, **env},
    )
  deadline = time.monotonic() + 60
  while True:
    match = re.search(r'Running on http://127\.0\.0\.1:(\d+)', log_path.read_text(errors='replace'))
    if match:
      try:
        urllib.request.urlopen(f'http://127.0.0.1:{match.group(1)}/moto-api/', timeout=2).read()
        return proc, f'http://127.0.0.1:{match.group(1)}'
      except OSError:
        pass
    if proc.poll() is not None or time.monotonic() > deadline:
      proc.kill()
      pytest.fail(f'moto did not start: {log_path.read_text(errors="replace")[-2000:]}')
    time.sleep(0.05)


def _pod_env(endpoint: str, key_id: str, secret: str) -> dict:
  return {
    'AWS_ACCESS_KEY_ID': key_id,
    'AWS_SECRET_ACCESS_KEY': secret,
    'AWS_ENDPOINT_URL': endpoint,
    'AWS_DEFAULT_REGION': 'us-east-1',
    # A dead endpoint fails in seconds, not minutes (components/lib/object_storage.py).
    'AWS_MAX_ATTEMPTS': '2',
    'S3_CONNECT_TIMEOUT_MSEC': '2000',
  }


@pytest.fixture(scope='session')
def s3_server(tmp_path_factory):
  """An S3-compatible server on loopback (moto's server mode) with one bucket, `mnist-tfx`.

  Yields the environment a pod gets from KFP's MinIO secret plus the endpoint. The test process
  itself talks to it only through boto3 with explicit settings (`s3_client`), never through
  TensorFlow, so its own environment stays as it was."""
  proc, endpoint = _moto_server(tmp_path_factory.mktemp('moto'))
  env = _pod_env(endpoint, 'testing', 'testing')
  s3_client(env).create_bucket(Bucket='mnist-tfx')
  yield env
  proc.terminate()
  proc.wait(timeout=30)


@pytest.fixture(scope='session')
def s3_server_iam(tmp_path_factory):
  """moto's server with IAM authentication on (INITIAL_NO_AUTH_ACTION_COUNT=0), as a real store
  checks credentials: bucket `mnist-tfx` and an IAM user without any policy. Yields two pod
  environments: 'wrong_keys' (a key the store does not know: 403 InvalidAccessKeyId) and
  'no_permission' (that user's valid key: 403 AccessDenied)."""
  import urllib.request

  proc, endpoint = _moto_server(
    tmp_path_factory.mktemp('moto-iam'), {'INITIAL_NO_AUTH_ACTION_COUNT': '0'}
  )

  def auth_after(count: str) -> None:  # moto's /moto-api/reset-auth: enforce after `count` actions
    urllib.request.urlopen(
      urllib.request.Request(
        f'{endpoint}/moto-api/reset-auth',
        data=count.encode(),
        headers={'Content-Type': 'text/plain'},
      ),
      timeout=10,
    ).read()

  import boto3

  auth_after('inf')  # set-up without credentials, then authentication on for everything
  admin = _pod_env(endpoint, 'testing', 'testing')
  s3_client(admin).create_bucket(Bucket='mnist-tfx')
  iam = boto3.client(
    'iam',
    endpoint_url=endpoint,
    region_name='us-east-1',
    aws_access_key_id='testing',
    aws_secret_access_key='testing',
  )
  iam.create_user(UserName='no-permission')
  key = iam.create_access_key(UserName='no-permission')['AccessKey']
  auth_after('0')
  yield {
    'wrong_keys': _pod_env(endpoint, 'wrong', 'wrong'),
    'no_permission': _pod_env(endpoint, key['AccessKeyId'], key['SecretAccessKey']),
  }
  proc.terminate()
  proc.wait(timeout=30)


def s3_client(env):
  import boto3

  return boto3.client(
    's3',
    endpoint_url=env['AWS_ENDPOINT_URL'],
    region_name=env['AWS_DEFAULT_REGION'],
    aws_access_key_id=env['AWS_ACCESS_KEY_ID'],
    aws_secret_access_key=env['AWS_SECRET_ACCESS_KEY'],
  )


def s3_keys(env, prefix: str):
  """Every object key under s3://mnist-tfx/<prefix>."""
  keys, token = [], None
  while True:
    page = s3_client(env).list_objects_v2(
      Bucket='mnist-tfx', Prefix=prefix, **({'ContinuationToken': token} if token else {})
    )
    keys += [item['Key'] for item in page.get('Contents', [])]
    token = page.get('NextContinuationToken')
    if not token:
      return keys


# --- Two runs into one output dir, shared by the pipeline and inspection tests: `two_runs` makes
# them for real (minutes), `recorded` copies a recording of them (seconds).


def run_py(*args, env=None, timeout=900):
  return subprocess.run(
    [sys.executable, *args],
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=timeout,
    env=dict(os.environ, **(env or {})),
  )


@pytest.fixture(scope='session')
def two_runs(tmp_path_factory, mnist_dir):
  """Run 1 is blessed and pushed; run 2 reuses its cache and is refused by the bound."""
  output_dir = str(tmp_path_factory.mktemp('metadata') / 'D')
  common = [
    'local_runner.py',
    '--data-dir',
    mnist_dir,
    '--output-dir',
    output_dir,
    '--train-examples',
    '3000',
    '--eval-examples',
    '1000',
    '--epochs',
    '2',
  ]
  first = run_py(*common, '--accuracy-threshold', '0.5')
  assert first.returncode == 0, first.stdout + first.stderr
  second = run_py(*common, '--accuracy-threshold', '0.9999')
  assert second.returncode == 3, second.stdout + second.stderr
  [version] = [
    name for name in os.listdir(os.path.join(output_dir, 'serving')) if name != 'models.config'
  ]
  return output_dir, version, first.stdout, second.stdout


@pytest.fixture
def recorded(tmp_path):
  """(output dir, read-only ML Metadata store) of the two recorded runs (make_fixture.py): run 1
  blessed and pushed with no baseline; run 2 reused run 1's Trainer, compared it with run 1's
  blessed model and was refused by the bound 0.9999."""
  output_dir = str(tmp_path / 'D')
  shutil.copytree(FIXTURE_DIR, output_dir)
  paths = LocalPaths.under(output_dir)
  move_artifact_uris(paths.metadata_path, FIXTURE_ROOT, output_dir)
  return output_dir, store_lib.open_store(
    store_lib.sqlite_config(paths.metadata_path, read_only=True)
  )
