"""An object store that cannot be reached is named for what it is (connection refused, name not
resolved, timeout, access denied), never "missing" or "no such model directory": for data dirs
(the runner's pre-flight and the IDX reader) and predict's --model."""

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from components.lib import object_storage
from tests.conftest import REPO


@pytest.fixture
def closed_port():
  with socket.socket() as sock:
    sock.bind(('127.0.0.1', 0))
    return sock.getsockname()[1]  # nothing listens there once the socket is closed


@pytest.fixture
def dead_s3(monkeypatch, closed_port):
  for name in ('AWS_ENDPOINT_URL_S3', 'S3_ENDPOINT'):
    monkeypatch.delenv(name, raising=False)
  monkeypatch.setenv('AWS_ENDPOINT_URL', f'http://127.0.0.1:{closed_port}')
  return closed_port


def test_refused_and_not_resolved_are_told_apart(closed_port):
  env = {'AWS_ENDPOINT_URL': f'http://127.0.0.1:{closed_port}'}
  assert (
    object_storage.unreachable('s3://b/x', environ=env)
    == f'cannot reach 127.0.0.1:{closed_port}: connection refused'
  )
  env = {'AWS_ENDPOINT_URL': 'http://nonexistent.invalid:9000'}
  assert object_storage.unreachable('s3://b/x', environ=env).startswith(
    'cannot reach nonexistent.invalid: name not resolved'
  )
  env = {'S3_ENDPOINT': 'minio.invalid:9000', 'S3_USE_HTTPS': '0'}  # TF 1.x style names
  assert object_storage.endpoint_of('s3://b/x', env) == ('minio.invalid', 9000)
  assert object_storage.endpoint_of('s3://b/x', {'AWS_REGION': 'eu-west-1'}) == (
    's3.eu-west-1.amazonaws.com',
    443,
  )
  assert object_storage.endpoint_of('gs://b/x', {}) == object_storage.GCS_ENDPOINT
  assert object_storage.unreachable('/local/folder', environ=env) is None


def test_timeout_is_named_timeout():
  """A listener whose backlog is full never completes the handshake: the connect times out."""
  with socket.socket() as listener:
    listener.bind(('127.0.0.1', 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
      problem = None
      for _ in range(16):  # fill the backlog until a connect hangs
        problem = object_storage.unreachable(
          's3://b/x', timeout=0.3, environ={'AWS_ENDPOINT_URL': f'http://127.0.0.1:{port}'}
        )
        if problem:
          break
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(('127.0.0.1', port))
        fillers.append(filler)
    finally:
      for filler in fillers:
        filler.close()
  assert problem == f'cannot reach 127.0.0.1:{port}: no answer in 0.3 s (timeout)'


def test_denied_is_named_denied():
  class PermissionDeniedError(Exception):
    pass

  assert object_storage.denied(PermissionDeniedError('s3://b/x: AccessDenied')).startswith(
    'access denied ('
  )
  assert object_storage.denied(OSError('HTTP 403 Forbidden')).startswith('access denied (')
  assert object_storage.denied(FileNotFoundError('no such key')) is None


def test_runner_data_dir_on_a_dead_endpoint(dead_s3, tmp_path, capsys):
  import local_runner

  code = local_runner.main(
    ['--data-dir', 's3://mnist-tfx/mnist', '--output-dir', str(tmp_path / 'D')]
  )
  err = capsys.readouterr().err
  assert code == 1
  assert (
    err == f'error: s3://mnist-tfx/mnist: cannot reach 127.0.0.1:{dead_s3}: connection refused\n'
  )


def test_predict_model_on_a_dead_endpoint(dead_s3, capsys):
  from predict import cli

  assert cli.main(['--model', 's3://mnist-tfx/serving', 'x.png']) == 1
  assert capsys.readouterr().err == (
    f'error: s3://mnist-tfx/serving: cannot reach 127.0.0.1:{dead_s3}: connection refused\n'
  )


def test_predict_never_prints_the_userinfo_of_a_model_url(dead_s3, capsys):
  from predict import cli

  assert cli.main(['--model', 's3://K3Y:S3CRET@mnist-tfx/serving', 'x.png']) == 1
  assert capsys.readouterr().err == (
    f'error: s3://mnist-tfx/serving: cannot reach 127.0.0.1:{dead_s3}: connection refused\n'
  )


def test_predict_model_on_a_name_that_does_not_resolve(monkeypatch, capsys):
  monkeypatch.setenv('AWS_ENDPOINT_URL', 'http://nonexistent.invalid:9000')
  monkeypatch.delenv('AWS_ENDPOINT_URL_S3', raising=False)
  from predict import cli

  assert cli.main(['--model', 's3://mnist-tfx/serving', 'x.png']) == 1
  assert capsys.readouterr().err.startswith(
    'error: s3://mnist-tfx/serving: cannot reach nonexistent.invalid: name not resolved'
  )


READ = r"""
import sys
from components.lib import idx
try:
  idx.load_split(sys.argv[1], 'train')
except idx.MnistDataError as e:
  print(e)
"""


# slow: the child imports TensorFlow (tensorflow-io's s3://) and waits out the SDK's retries
@pytest.mark.slow
def test_idx_reader_on_a_dead_endpoint_and_on_a_live_one(closed_port, s3_server):
  """What the ExampleGen reads with: refused is refused; the live loopback S3 without the files
  is "missing", with no false alarm."""
  dead = {**os.environ, **s3_server, 'AWS_ENDPOINT_URL': f'http://127.0.0.1:{closed_port}'}
  done = subprocess.run(
    [sys.executable, '-c', READ, 's3://mnist-tfx/nothing-here'],
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=300,
    env=dead,
  )
  assert done.stdout.strip() == (
    f'train-images-idx3-ubyte.gz: cannot reach 127.0.0.1:{closed_port}: '
    'connection refused (reading s3://mnist-tfx/nothing-here)'
  ), done.stderr[-2000:]
  assert object_storage.unreachable('s3://mnist-tfx/x', environ=s3_server) is None
  live = dict(os.environ, **s3_server)
  done = subprocess.run(
    [sys.executable, '-c', READ, 's3://mnist-tfx/nothing-here'],
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=300,
    env=live,
  )
  assert (
    done.stdout.strip() == 'train-images-idx3-ubyte.gz: missing from s3://mnist-tfx/nothing-here'
  ), done.stderr[-2000:]


# --- access denied: a real store (moto with IAM authentication on) refusing the credentials ------


def test_refused_credentials_are_named_with_the_way_out(s3_server_iam):
  """The store's own answer, one line: unknown keys → check the keys; a valid key without the
  permission → check what it may read (valid keys and a missing key: the slow test below)."""
  endpoint = s3_server_iam['wrong_keys']['AWS_ENDPOINT_URL']
  assert object_storage.refused('s3://mnist-tfx/data', environ=s3_server_iam['wrong_keys']) == (
    f'access denied by {endpoint}: InvalidAccessKeyId (The AWS Access Key Id you provided does not '
    'exist in our records.); check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY'
  )
  assert object_storage.refused(
    's3://mnist-tfx/data', environ=s3_server_iam['no_permission']
  ).startswith(f'access denied by {endpoint}: AccessDenied (')
  assert object_storage.refused(
    's3://mnist-tfx/data', environ=s3_server_iam['no_permission']
  ).endswith('); check what AWS_ACCESS_KEY_ID may read in s3://mnist-tfx')


def _run(args, env, timeout=300):
  """A product command as a user runs it: from another directory, with the pod's variables."""
  return subprocess.run(
    [sys.executable, *args],
    cwd='/tmp',
    capture_output=True,
    text=True,
    timeout=timeout,
    env={**os.environ, **env},
  )


# slow: starts local_runner.py; it must stop at its pre-flight, before TFX or TensorFlow
@pytest.mark.slow
def test_runner_data_dir_with_refused_credentials(s3_server_iam, tmp_path):
  env = s3_server_iam['wrong_keys']
  done = _run(
    [
      os.path.join(REPO, 'local_runner.py'),
      '--data-dir',
      's3://mnist-tfx/data',
      '--output-dir',
      str(tmp_path / 'out'),
      '--epochs',
      '1',
    ],
    env,
    timeout=60,
  )
  assert done.returncode == 1, done.stderr[-2000:]
  assert done.stderr.splitlines()[-1] == (
    f'error: s3://mnist-tfx/data: access denied by {env["AWS_ENDPOINT_URL"]}: InvalidAccessKeyId '
    '(The AWS Access Key Id you provided does not exist in our records.); '
    'check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY'
  ), done.stderr[-2000:]
  assert 'missing' not in done.stdout + done.stderr
  assert 'tensorflow' not in done.stdout + done.stderr.lower()


PREDICT = ['-m', 'predict', '--model']
EXAMPLES = os.path.join(REPO, 'trainer_module', 'seed_examples', 'examples.npy')


@pytest.mark.slow  # the child imports TensorFlow (tensorflow-io's s3://)
def test_predict_model_with_refused_credentials(s3_server_iam):
  env = s3_server_iam['wrong_keys']
  done = subprocess.run(
    [sys.executable, *PREDICT, 's3://mnist-tfx/serving/1', EXAMPLES],
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=300,
    env={**os.environ, **env},
  )
  assert done.returncode == 1, done.stderr[-2000:]
  assert done.stderr.splitlines()[-1] == (
    f'error: s3://mnist-tfx/serving/1: access denied by {env["AWS_ENDPOINT_URL"]}: '
    'InvalidAccessKeyId '
    '(The AWS Access Key Id you provided does not exist in our records.); '
    'check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY'
  ), done.stderr[-2000:]


@pytest.mark.slow  # the children import TensorFlow (tensorflow-io's s3://)
def test_missing_with_valid_credentials_is_still_missing_and_refused_is_not(
  s3_server, s3_server_iam
):
  """No false alarm: valid keys and a missing key say missing (predict --model); the IDX reader
  (what ExampleGen reads with) names a valid key without the permission as denied."""
  assert object_storage.refused('s3://mnist-tfx/nothing-here', environ=s3_server) is None
  assert object_storage.refused('s3://no-such-bucket/x', environ=s3_server) is None
  done = subprocess.run(
    [sys.executable, *PREDICT, 's3://mnist-tfx/nothing-here', EXAMPLES],
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=300,
    env={**os.environ, **s3_server},
  )
  assert done.returncode == 1, done.stderr[-2000:]
  assert (
    done.stderr.splitlines()[-1] == 'error: s3://mnist-tfx/nothing-here: no such model directory'
  )
  env = s3_server_iam['no_permission']
  done = subprocess.run(
    [sys.executable, '-c', READ, 's3://mnist-tfx/data'],
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=300,
    env={**os.environ, **env},
  )
  assert done.stdout.startswith(
    f's3://mnist-tfx/data: access denied by {env["AWS_ENDPOINT_URL"]}: AccessDenied ('
  ), done.stdout + done.stderr[-2000:]


# --- a store that accepts the connection, then never answers or trickles: every wait bounded ---


class _Endpoint:
  """A loopback 'object store' that accepts every connection, then either never sends a byte
  ('silent') or, for each request, sends HTTP headers and then one byte of a long body every
  0.2 s ('trickle': a per-read timeout never fires; only a deadline on the whole call ends it).
  HEAD requests get the headers only, so an existence check succeeds and the read trickles."""

  def __init__(self, kind: str):
    self.kind, self._stop = kind, threading.Event()
    self._listener = socket.socket()
    self._listener.bind(('127.0.0.1', 0))
    self._listener.listen(16)
    self.port = self._listener.getsockname()[1]
    self.url = f'http://127.0.0.1:{self.port}'
    self._held: list = []
    threading.Thread(target=self._accept, daemon=True).start()

  def _accept(self) -> None:
    while not self._stop.is_set():
      try:
        connection, _ = self._listener.accept()
      except OSError:
        return
      self._held.append(connection)
      if self.kind == 'trickle':
        threading.Thread(target=self._trickle, args=(connection,), daemon=True).start()

  def _trickle(self, connection) -> None:
    with contextlib.suppress(OSError):
      while not self._stop.is_set():
        request = b''
        while b'\r\n\r\n' not in request:
          chunk = connection.recv(65536)
          if not chunk:
            return
          request += chunk
        connection.sendall(
          b'HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: 1000000\r\n'
          b'ETag: "x"\r\nLast-Modified: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\n'
        )
        if request.startswith(b'HEAD'):
          continue
        while not self._stop.is_set():
          connection.sendall(b'<')
          time.sleep(0.2)

  def close(self) -> None:
    self._stop.set()
    self._listener.close()
    for connection in self._held:
      connection.close()


@pytest.fixture(params=['silent', 'trickle'])
def stalling_s3(request, monkeypatch):
  """(endpoint, its environment) with the waits cut to seconds (their stated values: 5 s to
  connect, 20 s of silence, 60 s for a whole call)."""
  endpoint = _Endpoint(request.param)
  monkeypatch.setattr(object_storage, 'READ_TIMEOUT_S', 1.0)
  monkeypatch.setattr(object_storage, 'CALL_DEADLINE_S', 2.0)
  env = {
    'AWS_ENDPOINT_URL': endpoint.url,
    'AWS_ACCESS_KEY_ID': 'testing',
    'AWS_SECRET_ACCESS_KEY': 'testing',
    'AWS_DEFAULT_REGION': 'us-east-1',
  }
  for name in ('AWS_ENDPOINT_URL_S3', 'S3_ENDPOINT'):
    monkeypatch.delenv(name, raising=False)
  for name, value in env.items():
    monkeypatch.setenv(name, value)
  yield endpoint, env
  endpoint.close()


def _expected(endpoint) -> str:
  if endpoint.kind == 'silent':  # the library's silence timeout comes first
    return f'no answer from 127.0.0.1:{endpoint.port} in 1 s (timeout)'
  return (
    f'no complete answer from 127.0.0.1:{endpoint.port} in 2 s (the deadline of one object-store '
    'call)'
  )


def test_the_preflight_names_a_silent_or_trickling_store_in_time(stalling_s3, tmp_path, capsys):
  """The runner's pre-flight (before TensorFlow): the store is reached, then gives no whole
  answer; the line names the store and which bound passed."""
  import local_runner

  endpoint, _ = stalling_s3
  assert object_storage.unreachable('s3://mnist-tfx/x') is None  # it does accept connections
  started, codes = time.monotonic(), []
  worker = threading.Thread(
    target=lambda: codes.append(
      local_runner.main(['--data-dir', 's3://mnist-tfx/mnist', '--output-dir', str(tmp_path)])
    ),
    daemon=True,
  )
  worker.start()
  worker.join(timeout=30)
  assert not worker.is_alive(), 'the pre-flight is still waiting on the store'
  elapsed = time.monotonic() - started
  assert codes == [1]
  assert capsys.readouterr().err == f'error: s3://mnist-tfx/mnist: {_expected(endpoint)}\n'
  assert elapsed < 20, elapsed  # the deadlines are 1 s and 2 s; the rest is imports


def test_a_call_past_its_deadline_is_given_up_and_named():
  gate = threading.Event()
  started = time.monotonic()
  with pytest.raises(object_storage.DeadlineExceeded) as info:
    object_storage.within_deadline(gate.wait, 's3://b/x', deadline=0.5)
  assert time.monotonic() - started < 2
  assert str(info.value).endswith('in 0.5 s (the deadline of one object-store call)')
  gate.set()
  assert object_storage.within_deadline(lambda: 42, 's3://b/x') == 42
  with pytest.raises(KeyError):  # the call's own error, as it is
    object_storage.within_deadline(lambda: {}['k'], 's3://b/x')


STALLED_READ = r"""
import sys, time
from components.lib import object_storage
object_storage.READ_TIMEOUT_S, object_storage.CALL_DEADLINE_S = 1.0, 2.0
object_storage.enable_s3()  # TensorFlow and tensorflow-io imported before the clock starts
started = time.monotonic()
if sys.argv[1] == 'idx':
  from components.lib import idx
  try:
    idx.load_split('s3://mnist-tfx/mnist', 'train')
  except idx.MnistDataError as e:
    print(e)
else:
  from predict import cli
  print(int(cli.main(['--model', sys.argv[2], sys.argv[3]])))
print(f'{time.monotonic() - started:.1f}')
"""


@pytest.mark.slow  # the child imports TensorFlow and tensorflow-io
def test_the_idx_reader_on_a_silent_or_trickling_store_ends_in_time(stalling_s3):
  """What the ExampleGen reads with: tensorflow-io's own waits are minutes long and a trickle
  resets them; each call ends by its deadline with the store and the bound named."""
  endpoint, env = stalling_s3
  done = subprocess.run(
    [sys.executable, '-c', STALLED_READ, 'idx'],
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=300,
    env={**os.environ, **env},
  )
  message, elapsed = done.stdout.strip().splitlines()
  assert message == (
    'train-images-idx3-ubyte.gz: no complete answer from '
    f'127.0.0.1:{endpoint.port} in 2 s (the deadline of one object-store call)'
  ), done.stderr[-2000:]
  assert float(elapsed) < 10


@pytest.mark.slow  # the child imports TensorFlow
def test_predict_model_on_a_silent_or_trickling_store_ends_in_time(stalling_s3):
  endpoint, env = stalling_s3
  done = subprocess.run(
    [sys.executable, '-c', STALLED_READ, 'predict', 's3://mnist-tfx/serving', EXAMPLES],
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=300,
    env={**os.environ, **env},
  )
  code, elapsed = done.stdout.strip().splitlines()
  assert code == '1' and float(elapsed) < 10, done.stderr[-2000:]
  assert done.stderr.splitlines()[-1] == (
    f'error: s3://mnist-tfx/serving: {_expected(endpoint)}'
  ), done.stderr[-2000:]
