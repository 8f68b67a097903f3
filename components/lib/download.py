"""Where the MNIST files come from: --data-dir, else $MNIST_DATA_DIR, else the download cache,
filled from the public mirrors (tried in order, transient errors retried, a file kept only once
its decompressed digest is the canonical one, every wait bounded). Other data sets
(components/lib/datasets.py) the same way, with their own variable, system folder (Debian's
dataset-fashion-mnist) and mirrors; `idx` needs --data-dir.

Hand-written on urllib: a download must be bounded in total (a mirror that trickles a byte at a
time is given up), and no library in the pinned set bounds a whole transfer."""

import gzip
import http.client
import os
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.request
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from components.lib import datasets, idx
from components.lib.datasets import IdxFile
from components.lib.idx import MnistDataError, decompress, is_remote, sha256_hex
from components.lib.local_files import open_regular

DEFAULT_MIRRORS = datasets.MNIST.mirrors
# How long anything may take. A socket timeout only bounds the wait for the next byte: a server
# that trickles one byte at a time would never trip it, hence a deadline per file and one overall.
TIMEOUT_S = 30.0  # to connect, and for each read
FILE_TIMEOUT_S = 300.0  # one try at one file, request to last byte (9.9 MB: >= 33 kB/s)
TOTAL_TIMEOUT_S = 1200.0  # all files, mirrors, retries and the pauses between them
MAX_FILE_BYTES = 128 << 20  # the largest file is 9.9 MB gzipped, 47 MB if stored uncompressed
_CHUNK = 1 << 16
Log = Callable[[str], None]
Fetch = Callable[[str, float, float], bytes]  # (url, timeout_s, deadline_s) -> the file


class _GaveUp(Exception):
  """This try ran out of time, or the file is absurdly large: not retried on the same mirror."""


class _TooSlow(_GaveUp):
  """The try's deadline passed."""


class _Watchdog:
  """After `seconds`, shuts down every connection opened through it: a read blocked on one of
  them returns at once, however slowly the server sends."""

  def __init__(self, seconds: float):
    self.seconds = seconds
    self.expired = False
    self._end = time.monotonic() + seconds
    self._lock = threading.Lock()
    self._sockets: List[socket.socket] = []
    self._timer = threading.Timer(seconds, self._expire)
    self._timer.daemon = True

  def __enter__(self) -> '_Watchdog':
    self._timer.start()
    return self

  def __exit__(self, *exc_info) -> None:
    self._timer.cancel()
    with self._lock:
      for sock in self._sockets:
        sock.close()
      self._sockets.clear()

  def _expire(self) -> None:
    with self._lock:
      self.expired = True
      for sock in self._sockets:
        try:
          sock.shutdown(socket.SHUT_RDWR)
        except OSError:
          pass

  def create_connection(self, address, timeout, source_address=None) -> socket.socket:
    """socket.create_connection, for http.client; connecting is bounded by the deadline too."""
    timeout = min(timeout, max(self._end - time.monotonic(), 0.001))
    sock = socket.create_connection(address, timeout, source_address)
    sock.settimeout(timeout)
    with self._lock:
      if self.expired:
        sock.close()
        raise TimeoutError('deadline passed while connecting')
      # A duplicate of the descriptor: TLS takes the original socket object over, shutting down
      # the duplicate shuts down the connection all the same.
      self._sockets.append(sock.dup())
    return sock

  def connection_class(self, base):
    watchdog = self

    class Connection(base):
      def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = watchdog.create_connection

    return Connection


class _Watched:
  """Mixed into urllib's HTTP and HTTPS handlers: their connections are the watchdog's."""

  def __init__(self, watchdog: _Watchdog):
    super().__init__()
    self._watchdog = watchdog

  def do_open(self, http_class, req, **http_conn_args):
    return super().do_open(self._watchdog.connection_class(http_class), req, **http_conn_args)


class _HTTPHandler(_Watched, urllib.request.HTTPHandler):
  pass


class _HTTPSHandler(_Watched, urllib.request.HTTPSHandler):
  pass


def _secs(seconds: float) -> str:
  return f'{round(seconds, 1):g} s'


def _size(n: int) -> str:
  return f'{n} bytes' if n < 10_000 else f'{n / 1e6:.1f} MB'


def _fetch(url: str, timeout: float, deadline_s: float) -> bytes:
  """The body at `url`, within `deadline_s` from the request to the last byte (proxies from the
  environment apply, as with urlopen). Raises _TooSlow when the time is up."""
  got, length = 0, None
  chunks = []
  with _Watchdog(deadline_s) as watchdog:
    opener = urllib.request.build_opener(_HTTPHandler(watchdog), _HTTPSHandler(watchdog))
    try:
      with opener.open(url, timeout=timeout) as response:
        header = response.headers.get('Content-Length', '')
        length = int(header) if header.isdigit() else None
        if length is not None and length > MAX_FILE_BYTES:
          raise _GaveUp(f'file too large ({_size(length)})')
        while True:
          chunk = response.read1(_CHUNK)
          if not chunk:
            break
          chunks.append(chunk)
          got += len(chunk)
          if got > MAX_FILE_BYTES:
            raise _GaveUp(f'file too large (over {_size(MAX_FILE_BYTES)})')
    except (OSError, http.client.HTTPException):
      if not watchdog.expired:
        raise
    if watchdog.expired and not (length is not None and got == length):
      if length is None and not got:  # (cut short, headers can look complete)
        raise _TooSlow(f'too slow: no complete response in {_secs(deadline_s)}')
      of = f' of {_size(length)}' if length is not None else ''
      raise _TooSlow(f'too slow: {_size(got)}{of} in {_secs(deadline_s)}')
  if length is not None and got != length:
    raise ConnectionError(f'connection closed after {_size(got)} of {_size(length)}')
  return b''.join(chunks)


def _is_canonical(raw: bytes, spec: IdxFile) -> bool:
  try:
    return sha256_hex(decompress(spec.name, raw, idx.size_bound(spec))) == spec.sha256
  except MnistDataError:
    return False


def _cached(path: str, spec: IdxFile) -> bool:
  """Whether the cached file is the canonical one, inflated as a stream (bounded memory)."""
  try:
    with open_regular(path) as raw, gzip.GzipFile(fileobj=raw, mode='rb') as stream:
      return idx.read_idx(spec.name, stream, spec)[1] == spec.sha256
  except (OSError, MnistDataError):
    return False


def _store(cache_dir: str, spec: IdxFile, raw: bytes) -> None:
  """Written beside the target and renamed: a file in the cache is always whole."""
  fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix='.' + spec.name)
  try:
    with os.fdopen(fd, 'wb') as f:
      f.write(raw)
    os.replace(tmp, os.path.join(cache_dir, spec.name))
  except BaseException:
    os.unlink(tmp)
    raise


def _reason(error: Exception, timeout: float) -> object:
  """What went wrong, short: the socket timeouts say how long was waited."""
  if isinstance(error, urllib.error.HTTPError):
    return f'HTTP {error.code} {error.reason}'
  reason = getattr(error, 'reason', None) or error
  if isinstance(reason, TimeoutError):
    return f'no answer for {_secs(timeout)}'
  return reason if str(reason) else type(reason).__name__


def _from_mirror(
  url: str,
  spec: IdxFile,
  retries: int,
  timeout: float,
  file_timeout: float,
  end: float,
  backoff: float,
  fetch: Fetch,
) -> Tuple[Optional[bytes], int, object]:
  """(the canonical file or None, tries made, the last problem); stops at `end` (monotonic)."""
  reason: object = None
  for attempt in range(1, retries + 1):
    started = time.monotonic()
    try:
      raw = fetch(url, timeout, min(file_timeout, max(end - started, 0.0)))
      digest = sha256_hex(decompress(spec.name, raw, idx.size_bound(spec)))  # a bomb stops there
      if digest == spec.sha256:
        return raw, attempt, None
      return None, attempt, f'digest {digest[:12]}… does not match {(spec.sha256 or "")[:12]}…'
    except _GaveUp as e:  # too slow or too large: it will be so again
      if isinstance(e, _TooSlow) and reason is not None and end - started < file_timeout:
        return None, attempt, reason  # cut short by the overall limit: the earlier reason says more
      return None, attempt, e
    except MnistDataError as e:  # not gzip: a corrupt file will be so again
      return None, attempt, e
    except (OSError, urllib.error.URLError, http.client.HTTPException, ValueError) as e:
      reason = _reason(e, timeout)
      if isinstance(e, urllib.error.HTTPError) and e.code < 500 and e.code != 429:
        return None, attempt, reason  # missing: not transient
      pause = backoff * attempt
      if attempt == retries or time.monotonic() + pause >= end:
        return None, attempt, reason
      time.sleep(pause)
  return None, retries, reason


def download(
  cache_dir: str,
  mirrors: Optional[Sequence[str]] = None,
  retries: int = 3,
  timeout: float = TIMEOUT_S,
  backoff: float = 1.0,
  log: Log = lambda msg: None,
  fetch: Fetch = _fetch,
  file_timeout: float = FILE_TIMEOUT_S,
  total_timeout: float = TOTAL_TIMEOUT_S,
  dataset: Optional[datasets.Dataset] = None,
) -> str:
  """Makes sure `cache_dir` holds the four canonical files of `dataset` (default MNIST); returns
  `cache_dir`.

  `timeout` bounds connecting and each read; `file_timeout` one try at one file; `total_timeout`
  the whole call, retries and the pauses between them (`backoff` × the try number) included."""
  dataset = datasets.get(dataset)
  mirrors = dataset.mirrors if mirrors is None else mirrors
  if not dataset.pinned:
    raise MnistDataError(
      f'--dataset {dataset.name} has no download (no canonical files): '
      f'pass --data-dir DIR, {dataset.holds}'
    )
  os.makedirs(cache_dir, exist_ok=True)
  end = time.monotonic() + total_timeout
  for spec in dataset.all_files:
    if _cached(os.path.join(cache_dir, spec.name), spec):
      continue
    problems: Dict[str, Tuple[int, object]] = {}  # url -> (tries, last reason)
    for mirror in mirrors:
      url = mirror.rstrip('/') + '/' + spec.name
      if time.monotonic() >= end:
        problems[url] = (0, 'not tried')
        continue
      raw, tries, reason = _from_mirror(
        url, spec, retries, timeout, file_timeout, end, backoff, fetch
      )
      if raw is not None:
        _store(cache_dir, spec, raw)
        log(f'downloaded {spec.name} from {mirror}')
        break
      problems[url] = (tries, reason)
    else:
      tried = '; '.join(
        f'{url}: {reason}' + (f' ({tries} {"try" if tries == 1 else "tries"})' if tries else '')
        for url, (tries, reason) in problems.items()
      )
      within = (
        f'within the {_secs(total_timeout)} allowed'
        if time.monotonic() >= end
        else 'from any mirror'
      )
      raise MnistDataError(
        f'{spec.name}: could not download a valid copy {within} ({tried}); '
        f'with no internet, pass --data-dir DIR (or set {dataset.env_var}) to a folder holding '
        f'the four {dataset.title} .gz files'
      )
  return cache_dir


def default_cache_dir(env: Optional[Mapping[str, str]] = None) -> str:
  environ = os.environ if env is None else env
  base = environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
  return os.path.join(base, 'mnist-tfx')


def resolve_data_dir(
  data_dir: Optional[str],
  env: Optional[Mapping[str, str]] = None,
  cache_dir: Optional[str] = None,
  mirrors: Optional[Iterable[str]] = None,
  log: Log = lambda msg: None,
  dataset: Optional[datasets.Dataset] = None,
  system_dirs: Optional[Sequence[str]] = None,
) -> str:
  """--data-dir, else the data set's variable ($MNIST_DATA_DIR, $FASHION_MNIST_DATA_DIR), else a
  system folder holding all four files (Fashion-MNIST: Debian's dataset-fashion-mnist), else a
  download into the cache dir (MNIST at its top, others in a sub-folder named after them).

  The data set's mirrors variable ($MNIST_MIRRORS, $FASHION_MNIST_MIRRORS: comma-separated base
  URLs) replaces its public mirrors, e.g. for an internal mirror.
  """
  environ = os.environ if env is None else env
  dataset = datasets.get(dataset)
  if mirrors is None:
    override = environ.get(dataset.mirrors_env_var, '') if dataset.mirrors_env_var else ''
    mirrors = [m for m in override.split(',') if m.strip()] or dataset.mirrors
  chosen = data_dir or (environ.get(dataset.env_var) if dataset.env_var else None)
  if chosen:
    if not is_remote(chosen):
      chosen = os.path.abspath(chosen)
      if not os.path.isdir(chosen):
        raise MnistDataError(f'{chosen}: data directory does not exist')
    return chosen
  for folder in dataset.system_dirs if system_dirs is None else system_dirs:
    if all(os.path.isfile(os.path.join(folder, f.name)) for f in dataset.all_files):
      return folder
  cache_dir = cache_dir or os.path.join(default_cache_dir(env), dataset.cache_name).rstrip(os.sep)
  return download(cache_dir, mirrors=tuple(mirrors), log=log, dataset=dataset)
