"""s3:// (AWS S3 or MinIO) for TensorFlow's and Beam's file I/O, from the standard AWS variables.

TensorFlow 2.16 has no s3 filesystem of its own: `import tensorflow_io` (0.37.1, the TF 2.16
build) registers one for tf.io.gfile, which TFX's fileio, Keras export, tf.data and TFMA use.
Beam's S3FileSystem (apache-beam[aws]) uses boto3. The two read different variables, once per
process, so `enable_s3()` must run before the first s3:// access; it fills each library's names
from whichever the environment has (KFP's MinIO secret gives AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY; the endpoint comes as AWS_ENDPOINT_URL):
- endpoint: boto3 reads AWS_ENDPOINT_URL; tensorflow-io only S3_ENDPOINT, scheme included;
- region: boto3 reads only AWS_DEFAULT_REGION, tensorflow-io either name;
- AWS_EC2_METADATA_DISABLED: without it the AWS C++ SDK asks 169.254.169.254 for a region;
- AWS_RETRY_MODE=standard: the SDK's legacy default retries 10 times (about 25 s per call) on a
  dead endpoint, where a missing endpoint looks like a missing file.
Path-style addressing (what MinIO needs) is what both use for a custom endpoint.

Every wait on an object store is bounded (the numbers below, stated once): a connection, a
silence within an answer, and each call whole, however slowly the answer trickles in. The
libraries bound the first two (tensorflow-io reads S3_CONNECT_TIMEOUT_MSEC and
S3_REQUEST_TIMEOUT_MSEC, tensorflow_io/core/filesystems/s3/s3_filesystem.cc
GetDefaultClientConfig, v0.37.1; boto3 its Config); the whole call is bounded here
(within_deadline), as no library bounds it: a call still waiting at its deadline is given up
and named (DeadlineExceeded), its thread left to the library's own timeouts.

tensorflow-io 0.37.1 also aborts every process that used s3:// at exit ("pure virtual method
called", status 134: tensorflow/io#2039, fixed upstream but unreleased), which would fail each
task that succeeded. The exit guard ends such a process with its own status after Python's own
shutdown (atexit handlers, flushed stdout/stderr), before the C++ static destructors run.
"""

import atexit
import ctypes
import os
import socket
import sys
import threading
import urllib.parse
from typing import Callable, Optional, Tuple, TypeVar

# The bounds of every wait on an object store (docs/explanation/guarantees.md, section 4).
CONNECT_TIMEOUT_S = 5.0  # a TCP connection to the endpoint
READ_TIMEOUT_S = 20.0  # no byte of an answer for this long
CALL_DEADLINE_S = 60.0  # one call whole: a request and all of its answer, however it trickles
_enabled = False
T = TypeVar('T')


class DeadlineExceeded(TimeoutError):
  """A call to an object store did not end within CALL_DEADLINE_S; str() is one line."""


def _endpoint(environ) -> str:
  endpoint = (
    environ.get('AWS_ENDPOINT_URL_S3')
    or environ.get('AWS_ENDPOINT_URL')
    or environ.get('S3_ENDPOINT')
    or ''
  )
  if endpoint and '://' not in endpoint:  # TF 1.x style: S3_ENDPOINT=host:port, S3_USE_HTTPS=0
    https = environ.get('S3_USE_HTTPS', '1').strip().lower() not in ('0', 'false', 'no', 'off')
    endpoint = f'{"https" if https else "http"}://{endpoint}'
  return endpoint.rstrip('/')


def configure_environment(environ=os.environ) -> None:
  """Fills the variable names each library reads from those that are set; overwrites none."""
  endpoint = _endpoint(environ)
  if endpoint:
    if '://' not in environ.get('S3_ENDPOINT', ''):
      environ['S3_ENDPOINT'] = endpoint
    environ.setdefault('AWS_ENDPOINT_URL', endpoint)
  region = environ.get('AWS_REGION') or environ.get('AWS_DEFAULT_REGION')
  if region:
    environ.setdefault('AWS_REGION', region)
    environ.setdefault('AWS_DEFAULT_REGION', region)
  if endpoint or region or environ.get('AWS_ACCESS_KEY_ID'):
    environ.setdefault('AWS_EC2_METADATA_DISABLED', 'true')
    environ.setdefault('AWS_RETRY_MODE', 'standard')
  # tensorflow-io's own waits (its default is 5 minutes each): a connection, and a request
  # that moves less than a byte a second for this long (libcurl's low-speed limit).
  environ.setdefault('S3_CONNECT_TIMEOUT_MSEC', str(int(CONNECT_TIMEOUT_S * 1000)))
  environ.setdefault('S3_REQUEST_TIMEOUT_MSEC', str(int(READ_TIMEOUT_S * 1000)))


def _exit_without_static_destructors() -> None:
  """Registered from atexit, i.e. after every library registered its C exit handlers, so it
  runs first among them: _exit(status) with the status the process is exiting with."""
  libc = ctypes.CDLL(None)
  libc.on_exit.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
  libc.on_exit(ctypes.cast(libc._exit, ctypes.c_void_p), None)


def enable_s3() -> None:
  """Makes s3:// work in this process (and in the processes it starts). Idempotent."""
  global _enabled
  if _enabled:
    return
  configure_environment()
  # Deferred: registers s3:// with tf.io.gfile (importing TensorFlow), and must come after the
  # variables above are set.
  import tensorflow_io  # noqa: F401

  if sys.platform.startswith('linux'):
    atexit.register(_exit_without_static_destructors)
  _enabled = True


def uses_s3(*texts: Optional[str]) -> bool:
  return any('s3://' in text for text in texts if text)


def enable_for(*uris: Optional[str]) -> None:
  """enable_s3() when any of these names an s3:// location (cheap otherwise)."""
  if uses_s3(*uris):
    enable_s3()


GCS_ENDPOINT = ('storage.googleapis.com', 443)  # TensorFlow's GCS filesystem talks to this host


def endpoint_of(uri: str, environ=os.environ) -> Optional[Tuple[str, int]]:
  """(host, port) that an s3:// or gs:// URI is read through, as the libraries pick it; None for
  anything else. S3: the endpoint variables (_endpoint), else AWS's regional host."""
  if uri.startswith('gs://'):
    return GCS_ENDPOINT
  if not uri.startswith('s3://'):
    return None
  endpoint = _endpoint(environ)
  if not endpoint:
    region = environ.get('AWS_REGION') or environ.get('AWS_DEFAULT_REGION') or 'us-east-1'
    return f's3.{region}.amazonaws.com', 443
  parsed = urllib.parse.urlsplit(endpoint)
  try:
    port = parsed.port
  except ValueError:
    port = None
  return parsed.hostname or '', port or (443 if parsed.scheme == 'https' else 80)


def where(uri: str, environ=os.environ) -> str:
  """'host:port' of the object store behind `uri`, for messages ('' for a local path)."""
  endpoint = endpoint_of(uri, environ)
  return f'{endpoint[0]}:{endpoint[1]}' if endpoint else ''


def within_deadline(call: Callable[[], T], uri: str, deadline: Optional[float] = None) -> T:
  """call() on another thread, its result or its exception; DeadlineExceeded, naming the
  store and the deadline, when it has not ended after `deadline` seconds (CALL_DEADLINE_S).
  The thread is then abandoned (a daemon): the library's own timeouts end it in time, and it
  never keeps the process from exiting."""
  deadline = CALL_DEADLINE_S if deadline is None else deadline
  outcome: dict = {}
  done = threading.Event()

  def work() -> None:
    try:
      outcome['value'] = call()
    except BaseException as e:  # noqa: BLE001  # handed to the caller as it is
      outcome['error'] = e
    finally:
      done.set()

  threading.Thread(target=work, name='object-store call', daemon=True).start()
  if not done.wait(deadline):
    store = where(uri) or uri
    raise DeadlineExceeded(
      f'no complete answer from {store} in {deadline:g} s (the deadline of one object-store call)'
    )
  if 'error' in outcome:
    raise outcome['error']
  return outcome['value']


def unreachable(uri: str, timeout: Optional[float] = None, environ=os.environ) -> Optional[str]:
  """None when the object store behind `uri` accepts a connection (or `uri` is local); else what
  is wrong, named truthfully: the name not resolved, the connection refused, no answer in
  `timeout` seconds (CONNECT_TIMEOUT_S). Checked before a read, so that a dead endpoint is not
  reported as a missing file (the libraries' exists() answers False for both)."""
  endpoint = endpoint_of(uri, environ)
  if endpoint is None:
    return None
  timeout = CONNECT_TIMEOUT_S if timeout is None else timeout
  host, port = endpoint
  try:
    addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
  except socket.gaierror as e:
    return f'cannot reach {host}: name not resolved ({e.strerror})'
  problem = None
  for family, kind, proto, _, address in addresses:
    try:
      with socket.socket(family, kind, proto) as sock:
        sock.settimeout(timeout)
        sock.connect(address)
      return None
    except ConnectionRefusedError:
      problem = f'cannot reach {host}:{port}: connection refused'
    except (socket.timeout, TimeoutError):
      problem = f'cannot reach {host}:{port}: no answer in {timeout:g} s (timeout)'
    except OSError as e:
      problem = f'cannot reach {host}:{port}: {e.strerror or type(e).__name__}'
  return problem


def denied(error: BaseException) -> Optional[str]:
  """'access denied (…)' for a store's refusal of these credentials (TensorFlow's
  PermissionDeniedError, HTTP 401/403 in the message), else None."""
  text = ' '.join(str(error).split())
  if type(error).__name__ in ('PermissionDeniedError', 'UnauthenticatedError') or any(
    marker in text
    for marker in ('AccessDenied', 'Access Denied', 'HTTP 403', 'HTTP 401', '403 Forbidden')
  ):
    return f'access denied ({text[:200]})'
  return None


# Error codes S3 (and MinIO, moto) answer for credentials it does not accept at all, as opposed
# to valid credentials without the permission (AccessDenied).
_BAD_CREDENTIALS = (
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidToken',
  'ExpiredToken',
  'InvalidClientTokenId',
  'AuthorizationHeaderMalformed',
)


def refused(uri: str, timeout: Optional[float] = None, environ=os.environ) -> Optional[str]:
  """'access denied by <endpoint>: <code> (<message>); <what to check>' when the S3 store behind
  `uri` refuses these credentials, else None (also for gs://, which has no client here: TF's GCS
  filesystem raises PermissionDeniedError itself, which denied() names). One ListObjectsV2 through
  boto3 with the variables the pods use (configure_environment): tensorflow-io's exists() answers
  False for a 403, so ask this only when something looked missing or a read failed. An answer
  that does not come is named too: a silence of READ_TIMEOUT_S (`timeout`), or no whole answer
  by CALL_DEADLINE_S (a server that trickles)."""
  if not uri.startswith('s3://'):
    return None
  import boto3  # noqa: F401  # deferred: 0.4 s to import; here, not on the call's own thread

  try:
    return within_deadline(lambda: _refused(uri, timeout, environ), uri)
  except DeadlineExceeded as e:
    return str(e)


def _refused(uri: str, timeout: Optional[float], environ) -> Optional[str]:
  import boto3  # deferred: 0.4 s to import, for an s3:// URI only
  import botocore.config
  import botocore.exceptions

  names = dict(environ)
  configure_environment(names)
  endpoint = names.get('AWS_ENDPOINT_URL') or None
  bucket, _, key = uri[len('s3://') :].partition('/')
  config = botocore.config.Config(
    connect_timeout=CONNECT_TIMEOUT_S if timeout is None else timeout,
    read_timeout=READ_TIMEOUT_S if timeout is None else timeout,
    retries={'total_max_attempts': 1},
    s3={'addressing_style': 'path'} if endpoint else None,
  )
  session = boto3.session.Session(
    aws_access_key_id=names.get('AWS_ACCESS_KEY_ID'),
    aws_secret_access_key=names.get('AWS_SECRET_ACCESS_KEY'),
    aws_session_token=names.get('AWS_SESSION_TOKEN'),
    region_name=names.get('AWS_DEFAULT_REGION') or 'us-east-1',
  )

  def list_one(signed: bool) -> None:
    unsigned = {} if signed else {'signature_version': botocore.UNSIGNED}
    session.client(
      's3', endpoint_url=endpoint, config=config.merge(botocore.config.Config(**unsigned))
    ).list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)

  hint = 'check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY'
  try:
    try:
      list_one(signed=True)
    except botocore.exceptions.NoCredentialsError:
      hint = 'no credentials: set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY'
      list_one(signed=False)  # the AWS C++ SDK (tensorflow-io) sends it unsigned
    return None
  except botocore.exceptions.ClientError as e:
    if e.response.get('ResponseMetadata', {}).get('HTTPStatusCode') not in (401, 403):
      return None  # e.g. NoSuchBucket: missing is the truth
    error = e.response.get('Error', {})
    code = error.get('Code', '')
    message = ' '.join(str(error.get('Message', '')).split())[:200]
    if code not in _BAD_CREDENTIALS and hint.startswith('check'):
      hint = f'check what AWS_ACCESS_KEY_ID may read in s3://{bucket}'
    host = endpoint_of(uri, names)
    by = endpoint or f'https://{host[0] if host else "s3"}'
    return f'access denied by {by}: {code} ({message}); {hint}'  # no 'KeyId: …': console.redact
  except (botocore.exceptions.ConnectTimeoutError, botocore.exceptions.ReadTimeoutError) as e:
    connect = isinstance(e, botocore.exceptions.ConnectTimeoutError)
    silence = config.connect_timeout if connect else config.read_timeout
    return f'no answer from {where(uri, names)} in {silence:g} s (timeout)'
  except botocore.exceptions.BotoCoreError:
    return None  # not the store's answer (a malformed name, say): the read itself tells


def problem(uri: str, environ=os.environ) -> Optional[str]:
  """Why `uri` could not be read when the library only said "not there", asked before it is
  read: the endpoint not reachable, silent or too slow to answer one request whole, or the
  credentials refused; None when the store answers and accepts them."""
  return unreachable(uri, environ=environ) or refused(uri, environ=environ)
