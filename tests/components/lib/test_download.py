"""The download path, for real, against a loopback HTTP server serving the real MNIST files."""

import gzip
import http.server
import os
import shutil
import threading
import time
from typing import List, Set

import pytest

from components.lib import download, idx
from components.lib.idx import MnistDataError

BOMB = gzip.compress(bytes(2**20), compresslevel=9) * 1024  # 1 GiB of zeros, about 1 MB


class _MirrorHandler(http.server.BaseHTTPRequestHandler):
  """/good/<file>: the real file; /missing/<file>: 404; /corrupt/<file>: valid gzip, wrong bytes;
  /flaky/<file>: 500 on the first request for each file, then the real file;
  /short/<file>: the headers of the real file, half its bytes, then the connection closes;
  /trickle/<file>: the headers, then one byte of the real file every 50 ms;
  /trickle-headers/<file>: the status line, one byte every 50 ms;
  /silent/<file>: nothing at all;
  /bomb/<file>: a 1-MB gzip that inflates to 1 GiB (zeros);
  /oversize/<file>: a Content-Length past download.MAX_FILE_BYTES;
  /endless/<file>: no Content-Length, bytes until the client hangs up.
  The slow ones stop when the client hangs up or the test ends (`release`)."""

  data_dir = None
  requests: List[str] = []
  flaky_seen: Set[str] = set()
  release = threading.Event()

  def do_GET(self):  # noqa: N802
    self.requests.append(self.path)
    mirror, _, name = self.path.strip('/').partition('/')
    path = os.path.join(self.data_dir, name)
    if mirror == 'missing' or not os.path.exists(path):
      return self.send_error(404)
    if mirror == 'flaky' and name not in self.flaky_seen:
      self.flaky_seen.add(name)
      return self.send_error(500)
    with open(path, 'rb') as f:
      body = f.read()
    if mirror == 'corrupt':
      body = gzip.compress(b'not mnist at all')
    if mirror == 'bomb':
      body = BOMB
    try:
      if mirror == 'oversize':
        self.send_response(200)
        self.send_header('Content-Length', str(download.MAX_FILE_BYTES + 1))
        self.end_headers()
        return
      if mirror == 'endless':
        self.send_response(200)
        self.end_headers()
        while not self.release.is_set():
          self.wfile.write(bytes(1 << 20))
        return
      if mirror == 'silent':
        self.release.wait(30)
        return
      if mirror == 'trickle-headers':
        return self._trickle(b'HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n' % len(body) + body)
      self.send_response(200)
      self.send_header('Content-Length', str(len(body)))
      self.end_headers()
      if mirror == 'trickle':
        return self._trickle(body)
      self.wfile.write(body[: len(body) // 2] if mirror == 'short' else body)
    except OSError:  # the client gave up
      pass

  def _trickle(self, data):
    for i in range(len(data)):
      if self.release.wait(0.05):
        return
      self.wfile.write(data[i : i + 1])

  def log_message(self, *args):
    pass


@pytest.fixture
def mirror(mnist_dir):
  handler = type(
    'Handler',
    (_MirrorHandler,),
    {'data_dir': mnist_dir, 'requests': [], 'flaky_seen': set(), 'release': threading.Event()},
  )
  server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
  server.daemon_threads = True
  thread = threading.Thread(
    target=server.serve_forever, kwargs={'poll_interval': 0.02}, daemon=True
  )
  thread.start()
  yield f'http://127.0.0.1:{server.server_port}', handler
  handler.release.set()
  server.shutdown()
  server.server_close()


def _files(folder):
  return sorted(n for n in os.listdir(folder) if not n.startswith('.'))


def test_download_success_and_cache_reuse(tmp_path, mirror):
  base, handler = mirror
  cache = str(tmp_path / 'cache')
  assert download.download(cache, mirrors=[base + '/good/'], backoff=0) == cache
  assert _files(cache) == sorted(f.name for f in idx.ALL_FILES)
  assert idx.validate_dir(cache)  # canonical digests
  count = len(handler.requests)
  download.download(cache, mirrors=[base + '/good/'], backoff=0)
  assert len(handler.requests) == count, 'valid cached files must not be fetched again'


def test_corrupt_download_is_refused_and_second_mirror_used(tmp_path, mirror):
  base, handler = mirror
  cache = str(tmp_path / 'cache')
  download.download(cache, mirrors=[base + '/corrupt/', base + '/good/'], backoff=0)
  idx.validate_dir(cache)
  corrupt = [p for p in handler.requests if p.startswith('/corrupt/')]
  assert len(corrupt) == 4, 'a corrupt file is not retried on the same mirror'


def test_fallback_when_first_mirror_is_missing_files(tmp_path, mirror):
  base, handler = mirror
  cache = str(tmp_path / 'cache')
  download.download(cache, mirrors=[base + '/missing/', base + '/good/'], retries=3, backoff=5)
  idx.validate_dir(cache)
  assert sum(p.startswith('/good/') for p in handler.requests) == 4
  assert sum(p.startswith('/missing/') for p in handler.requests) == 4, 'a 404 is not retried'


def test_transient_errors_are_retried(tmp_path, mirror):
  base, handler = mirror
  cache = str(tmp_path / 'cache')
  download.download(cache, mirrors=[base + '/flaky/'], retries=2, backoff=0)
  assert len(handler.requests) == 8  # each file: one 500, then success


def test_only_corrupt_mirrors_fail_with_one_line_and_keep_nothing(tmp_path, mirror):
  base, _ = mirror
  cache = str(tmp_path / 'cache')
  with pytest.raises(MnistDataError, match='could not download a valid copy') as info:
    download.download(cache, mirrors=[base + '/corrupt/'], backoff=0)
  assert '\n' not in str(info.value) and '--data-dir' in str(info.value)
  assert _files(cache) == []


@pytest.mark.slow  # waits out a timeout on purpose
def test_no_network_and_no_data_points_at_data_dir(tmp_path):
  # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
  with pytest.raises(MnistDataError, match='pass --data-dir DIR'):
    download.resolve_data_dir(
      None, env={}, cache_dir=str(tmp_path / 'c'), mirrors=['http://127.0.0.1:9/']
    )


def test_mirrors_and_cache_from_environment(tmp_path, mirror):
  base, handler = mirror
  env = {'MNIST_MIRRORS': f'{base}/missing/,{base}/good/', 'XDG_CACHE_HOME': str(tmp_path)}
  data_dir = download.resolve_data_dir(None, env=env)
  assert data_dir == str(tmp_path / 'mnist-tfx')
  idx.validate_dir(data_dir)


# The bounded waits. Three of the four files are in the cache already: one file is fetched.
LAST = 't10k-labels-idx1-ubyte.gz'  # 4.5 kB: 4 minutes at one byte every 50 ms
SPECS = {spec.name: spec for spec in idx.ALL_FILES}


@pytest.fixture
def cache_missing_one(tmp_path, mnist_dir):
  cache = tmp_path / 'cache'
  cache.mkdir()
  for spec in idx.ALL_FILES:
    if spec.name != LAST:
      shutil.copyfile(os.path.join(mnist_dir, spec.name), cache / spec.name)
  return str(cache)


def _timed(fn):
  started = time.monotonic()
  try:
    return fn(), time.monotonic() - started
  except MnistDataError as e:
    assert '\n' not in str(e)
    return e, time.monotonic() - started


@pytest.mark.slow  # waits out a timeout on purpose
def test_trickling_mirror_is_given_up_for_the_next(cache_missing_one, mirror):
  base, handler = mirror
  result, took = _timed(
    lambda: download.download(
      cache_missing_one,
      mirrors=[base + '/trickle/', base + '/good/'],
      timeout=5,
      file_timeout=1,
      backoff=0,
    )
  )
  assert result == cache_missing_one and took < 5
  idx.validate_dir(cache_missing_one)
  assert handler.requests == [f'/trickle/{LAST}', f'/good/{LAST}'], 'too slow is not retried there'
  assert sorted(os.listdir(cache_missing_one)) == _files(cache_missing_one), 'no partial file left'


@pytest.mark.slow  # waits out a timeout on purpose
def test_trickling_only_mirror_fails_with_one_line(cache_missing_one, mirror, mnist_dir):
  base, _ = mirror
  size = os.path.getsize(os.path.join(mnist_dir, LAST))
  error, took = _timed(
    lambda: download.download(
      cache_missing_one, mirrors=[base + '/trickle/'], timeout=5, file_timeout=1, backoff=0
    )
  )
  assert isinstance(error, MnistDataError) and took < 5
  assert str(error).startswith(
    f'{LAST}: could not download a valid copy from any mirror ({base}/trickle/{LAST}: too slow: '
  )
  assert f' of {size} bytes in 1 s (1 try)); with no internet, pass --data-dir DIR' in str(error)
  assert LAST not in os.listdir(cache_missing_one) and len(os.listdir(cache_missing_one)) == 3


@pytest.mark.slow  # waits out a timeout on purpose
def test_server_that_never_sends_headers_is_bounded(cache_missing_one, mirror):
  base, handler = mirror
  # By the socket timeout (no byte for 0.5 s), tried twice, then the next mirror.
  _, took = _timed(
    lambda: download.download(
      cache_missing_one,
      mirrors=[base + '/silent/', base + '/good/'],
      timeout=0.5,
      retries=2,
      backoff=0,
    )
  )
  assert took < 5 and handler.requests[-1] == f'/good/{LAST}'
  assert handler.requests.count(f'/silent/{LAST}') == 2
  idx.validate_dir(cache_missing_one)
  # By the per-file deadline, when the headers trickle in faster than the socket timeout.
  os.remove(os.path.join(cache_missing_one, LAST))
  error, took = _timed(
    lambda: download.download(
      cache_missing_one, mirrors=[base + '/trickle-headers/'], timeout=5, file_timeout=1
    )
  )
  assert took < 5
  assert f'trickle-headers/{LAST}: too slow: no complete response in 1 s (1 try))' in str(error)


@pytest.mark.slow  # waits out a timeout on purpose
def test_total_time_bounds_all_retries(cache_missing_one, mirror):
  base, handler = mirror
  # Retried on a mirror that never answers until the time allowed is up.
  error, took = _timed(
    lambda: download.download(
      cache_missing_one,
      mirrors=[base + '/silent/'],
      timeout=0.3,
      retries=100,
      backoff=0,
      total_timeout=1.5,
    )
  )
  assert isinstance(error, MnistDataError) and 1.4 < took < 5
  assert str(error).startswith(
    f'{LAST}: could not download a valid copy within the 1.5 s allowed '
    f'({base}/silent/{LAST}: no answer for 0.3 s ('
  )
  assert handler.requests.count(f'/silent/{LAST}') >= 3
  # A slow mirror that uses up all the time leaves none for the next one.
  error, took = _timed(
    lambda: download.download(
      cache_missing_one,
      mirrors=[base + '/trickle/', base + '/good/'],
      file_timeout=60,
      total_timeout=1,
    )
  )
  assert isinstance(error, MnistDataError) and took < 5
  assert f'{base}/trickle/{LAST}: too slow: ' in str(error)
  assert f'{base}/good/{LAST}: not tried); with no internet' in str(error)
  assert not any(p.startswith('/good/') for p in handler.requests)


def test_partial_download_is_retried_and_never_kept(cache_missing_one, mirror, mnist_dir):
  base, _ = mirror
  size = os.path.getsize(os.path.join(mnist_dir, LAST))
  error, _ = _timed(
    lambda: download.download(cache_missing_one, mirrors=[base + '/short/'], retries=2, backoff=0)
  )
  assert (
    f'short/{LAST}: connection closed after {size // 2} bytes of {size} bytes (2 tries))'
    in str(error)
  )
  assert len(os.listdir(cache_missing_one)) == 3
  download.download(
    cache_missing_one, mirrors=[base + '/short/', base + '/good/'], retries=1, backoff=0
  )
  idx.validate_dir(cache_missing_one)


def _peak_rss_mib() -> float:
  with open('/proc/self/status') as f:
    return int(next(line for line in f if line.startswith('VmHWM')).split()[1]) / 1024


@pytest.mark.parametrize(
  'bad, why',
  [
    ('bomb', f'inflates to more than {idx.size_bound(SPECS[LAST])} bytes'),
    ('oversize', f'file too large ({download.MAX_FILE_BYTES / 1e6 + 1e-6:.1f} MB)'),
    ('endless', f'file too large (over {download.MAX_FILE_BYTES / 1e6:.1f} MB)'),
  ],
)
def test_a_bomb_or_an_oversize_file_from_a_mirror_is_refused_for_the_next(
  cache_missing_one, mirror, bad, why
):
  """What a mirror serves is held to the file's pinned size as it inflates (a bomb stops one
  byte past it) and to MAX_FILE_BYTES as it arrives: refused, named, and the next mirror used."""
  base, _ = mirror
  before = _peak_rss_mib()
  with pytest.raises(MnistDataError) as info:
    download.download(cache_missing_one, mirrors=[f'{base}/{bad}/'], backoff=0)
  message = str(info.value)
  assert f'{base}/{bad}/{LAST}: ' in message and why in message and '\n' not in message
  assert LAST not in os.listdir(cache_missing_one)
  download.download(cache_missing_one, mirrors=[f'{base}/{bad}/', f'{base}/good/'], backoff=0)
  idx.validate_dir(cache_missing_one)
  # Inflating is bounded by the pinned size, never the bomb's 1 GiB; arriving, by MAX_FILE_BYTES.
  assert _peak_rss_mib() - before < 400


def test_a_bomb_left_in_the_cache_is_replaced_by_a_good_copy(tmp_path, mirror, mnist_dir):
  base, _ = mirror
  cache = tmp_path / 'cache'
  cache.mkdir()
  for spec in idx.ALL_FILES:
    shutil.copyfile(os.path.join(mnist_dir, spec.name), cache / spec.name)
  (cache / LAST).write_bytes(BOMB)
  started = time.monotonic()
  download.download(str(cache), mirrors=[f'{base}/good/'], backoff=0)
  assert time.monotonic() - started < 60
  idx.validate_dir(str(cache))
