"""The download path, for real, against a loopback HTTP server serving the real MNIST files."""
import gzip
import http.server
import os
import threading

import pytest

from components import mnist_data
from components import mnist_download
from components.mnist_data import MnistDataError


class _MirrorHandler(http.server.BaseHTTPRequestHandler):
  """/good/<file>: the real file; /missing/<file>: 404; /corrupt/<file>: valid gzip, wrong bytes;
  /flaky/<file>: 500 on the first request for each file, then the real file."""
  data_dir = None
  requests = []
  flaky_seen = set()

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
    self.send_response(200)
    self.send_header('Content-Length', str(len(body)))
    self.end_headers()
    self.wfile.write(body)

  def log_message(self, *args):
    pass


@pytest.fixture
def mirror(mnist_dir):
  handler = type('Handler', (_MirrorHandler,), {'data_dir': mnist_dir, 'requests': [],
                                                 'flaky_seen': set()})
  server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  yield f'http://127.0.0.1:{server.server_port}', handler
  server.shutdown()
  server.server_close()


def _files(folder):
  return sorted(n for n in os.listdir(folder) if not n.startswith('.'))


def test_download_success_and_cache_reuse(tmp_path, mirror):
  base, handler = mirror
  cache = str(tmp_path / 'cache')
  assert mnist_download.download(cache, mirrors=[base + '/good/'], backoff=0) == cache
  assert _files(cache) == sorted(f.name for f in mnist_data.ALL_FILES)
  assert mnist_data.validate_dir(cache)  # canonical digests
  count = len(handler.requests)
  mnist_download.download(cache, mirrors=[base + '/good/'], backoff=0)
  assert len(handler.requests) == count, 'valid cached files must not be fetched again'


def test_corrupt_download_is_refused_and_second_mirror_used(tmp_path, mirror):
  base, handler = mirror
  cache = str(tmp_path / 'cache')
  mnist_download.download(cache, mirrors=[base + '/corrupt/', base + '/good/'], backoff=0)
  mnist_data.validate_dir(cache)
  corrupt = [p for p in handler.requests if p.startswith('/corrupt/')]
  assert len(corrupt) == 4, 'a corrupt file is not retried on the same mirror'


def test_fallback_when_first_mirror_is_missing_files(tmp_path, mirror):
  base, handler = mirror
  cache = str(tmp_path / 'cache')
  mnist_download.download(cache, mirrors=[base + '/missing/', base + '/good/'], retries=3, backoff=5)
  mnist_data.validate_dir(cache)
  assert sum(p.startswith('/good/') for p in handler.requests) == 4
  assert sum(p.startswith('/missing/') for p in handler.requests) == 4, 'a 404 is not retried' 


def test_transient_errors_are_retried(tmp_path, mirror):
  base, handler = mirror
  cache = str(tmp_path / 'cache')
  mnist_download.download(cache, mirrors=[base + '/flaky/'], retries=2, backoff=0)
  assert len(handler.requests) == 8  # each file: one 500, then success


def test_only_corrupt_mirrors_fail_with_one_line_and_keep_nothing(tmp_path, mirror):
  base, _ = mirror
  cache = str(tmp_path / 'cache')
  with pytest.raises(MnistDataError, match='could not download a valid copy') as info:
    mnist_download.download(cache, mirrors=[base + '/corrupt/'], backoff=0)
  assert '\n' not in str(info.value) and '--data-dir' in str(info.value)
  assert _files(cache) == []


def test_no_network_and_no_data_points_at_data_dir(tmp_path):
  # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
  with pytest.raises(MnistDataError, match='pass --data-dir DIR'):
    mnist_download.resolve_data_dir(None, env={}, cache_dir=str(tmp_path / 'c'),
                                mirrors=['http://127.0.0.1:9/'])


def test_mirrors_and_cache_from_environment(tmp_path, mirror):
  base, handler = mirror
  env = {'MNIST_MIRRORS': f'{base}/missing/,{base}/good/', 'XDG_CACHE_HOME': str(tmp_path)}
  data_dir = mnist_download.resolve_data_dir(None, env=env)
  assert data_dir == str(tmp_path / 'mnist-tfx')
  mnist_data.validate_dir(data_dir)
