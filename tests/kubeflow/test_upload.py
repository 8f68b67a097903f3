"""`python -m kubeflow upload`: the unreachable-host path for real, and the request shapes
against a small fake KFP API server on loopback (a stand-in for the KFP backend, named as such)."""
import cgi
import io
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kubeflow.upload import UploadError, parse_params, read_package, upload
from tests.kubeflow.conftest import run_cli


class FakeKfpApi(BaseHTTPRequestHandler):
  """Answers the v2beta1 calls kfp.Client 2.5 makes; records each request."""
  state = None  # set per server: {'requests': [], 'pipelines': {}, 'status': None}

  def _reply(self, code, body):
    data = json.dumps(body).encode()
    self.send_response(code)
    self.send_header('Content-Type', 'application/json')
    self.send_header('Content-Length', str(len(data)))
    self.end_headers()
    self.wfile.write(data)

  def _record(self, body=b''):
    url = urllib.parse.urlparse(self.path)
    request = {'method': self.command, 'path': url.path,
               'query': dict(urllib.parse.parse_qsl(url.query)), 'body': body,
               'content_type': self.headers.get('Content-Type', '')}
    self.state['requests'].append(request)
    return request

  def do_GET(self):  # noqa: N802
    request = self._record()
    forced = self.state.get('status')
    if forced:
      return self._reply(forced, {'error': 'forced', 'message': 'access denied', 'code': 16})
    path = request['path']
    if path == '/apis/v2beta1/healthz':
      return self._reply(200, {'multi_user': False})
    if path == '/apis/v2beta1/pipelines':
      predicate = json.loads(request['query']['filter'])['predicates'][0]
      wanted = predicate.get('string_value', predicate.get('stringValue'))
      found = [{'pipeline_id': pid, 'display_name': n}
               for n, pid in self.state['pipelines'].items() if n == wanted]
      return self._reply(200, {'pipelines': found, 'total_size': len(found)})
    if path.endswith('/versions'):
      return self._reply(200, {'pipeline_versions': [{'pipeline_version_id': 'v-default'}]})
    if path == '/apis/v2beta1/experiments':
      return self._reply(200, {'experiments': [], 'total_size': 0})
    return self._reply(404, {'error': 'not found'})

  def do_POST(self):  # noqa: N802
    length = int(self.headers.get('Content-Length') or 0)
    request = self._record(self.rfile.read(length))
    path = request['path']
    if self.state.get('reject_upload') and path.startswith('/apis/v2beta1/pipelines/upload'):
      return self._reply(400, {'error': 'Failed to create a pipeline: invalid pipeline spec'})
    if path == '/apis/v2beta1/pipelines/upload':
      name = request['query']['name']
      self.state['pipelines'][name] = f'p-{len(self.state["pipelines"]) + 1}'
      return self._reply(200, {'pipeline_id': self.state['pipelines'][name], 'display_name': name})
    if path == '/apis/v2beta1/pipelines/upload_version':
      return self._reply(200, {'pipeline_version_id': 'v-2', 'pipeline_id': request['query']['pipelineid']})
    if path == '/apis/v2beta1/experiments':
      return self._reply(200, {'experiment_id': 'e-1', 'display_name': 'Default'})
    if path == '/apis/v2beta1/runs':
      return self._reply(200, {'run_id': 'r-1'})
    return self._reply(404, {'error': 'not found'})

  def log_message(self, *args):
    pass


@pytest.fixture
def fake_kfp():
  state = {'requests': [], 'pipelines': {}, 'status': None}
  handler = type('Handler', (FakeKfpApi,), {'state': state})
  server = ThreadingHTTPServer(('127.0.0.1', 0), handler)
  threading.Thread(target=server.serve_forever, daemon=True).start()
  yield f'http://127.0.0.1:{server.server_port}', state
  server.shutdown()
  server.server_close()


def _uploaded_file(request):
  form = cgi.FieldStorage(fp=io.BytesIO(request['body']), environ={
      'REQUEST_METHOD': 'POST', 'CONTENT_TYPE': request['content_type'],
      'CONTENT_LENGTH': str(len(request['body']))})
  return form['uploadfile'].file.read()


def test_unreachable_host_fails_fast_with_one_line(compiled):
  package, _ = compiled
  started = time.monotonic()
  proc = run_cli('upload', '--host', 'http://127.0.0.1:9', '--package', package)
  assert time.monotonic() - started < 30
  assert proc.returncode == 1
  [line] = proc.stderr.strip().splitlines()
  assert line.startswith('error: http://127.0.0.1:9: cannot reach the Kubeflow Pipelines API')
  assert 'Traceback' not in proc.stdout + proc.stderr


def test_new_pipeline_then_new_version_then_run(compiled, fake_kfp):
  package, _ = compiled
  host, state = fake_kfp
  first = upload(host, package, log=lambda _: None)
  assert first == {'pipeline_id': 'p-1', 'version_id': 'v-default', 'run_id': None}
  [upload_request] = [r for r in state['requests'] if r['path'].endswith('/pipelines/upload')]
  assert upload_request['query']['name'] == 'mnist-tfx'
  with open(package, 'rb') as f:
    assert _uploaded_file(upload_request) == f.read()

  state['requests'].clear()
  proc = run_cli('upload', '--host', host, '--package', package, '--run', '--param', 'epochs=3',
                 '--param', 'accuracy_threshold=0.995', '--param', 'data_dir=gs://d/mnist',
                 '--pipeline-root', 'gs://bucket/run-root')
  assert proc.returncode == 0, proc.stderr
  assert "Uploaded version mnist-tfx-" in proc.stdout and 'Started run r-1' in proc.stdout
  paths = [r['path'] for r in state['requests']]
  assert '/apis/v2beta1/pipelines/upload_version' in paths
  [version_request] = [r for r in state['requests'] if r['path'].endswith('/upload_version')]
  assert version_request['query']['pipelineid'] == 'p-1'
  [run_request] = [r for r in state['requests'] if r['path'] == '/apis/v2beta1/runs']
  body = json.loads(run_request['body'])
  assert body['pipeline_version_reference'] == {'pipeline_id': 'p-1', 'pipeline_version_id': 'v-2'}
  assert body['runtime_config']['parameters'] == {
      'epochs': 3, 'accuracy_threshold': 0.995, 'data_dir': 'gs://d/mnist'}
  assert body['runtime_config']['pipeline_root'] == 'gs://bucket/run-root'
  assert body['experiment_id'] == 'e-1'


def test_auth_failure_is_one_line(compiled, fake_kfp):
  package, _ = compiled
  host, state = fake_kfp
  state['status'] = 401
  started = time.monotonic()
  proc = run_cli('upload', '--host', host, '--package', package)
  assert time.monotonic() - started < 30
  assert proc.returncode == 1
  [line] = proc.stderr.strip().splitlines()
  assert line.startswith(f'error: {host}: request refused: authentication failed (HTTP 401)')


def test_rejected_package_is_one_line(compiled, fake_kfp):
  package, _ = compiled
  host, state = fake_kfp
  state['reject_upload'] = True
  with pytest.raises(UploadError, match=r'request refused: HTTP 400 .*invalid pipeline spec'):
    upload(host, package, log=lambda _: None)


def test_parameters_are_checked_before_contacting_the_host(compiled, fake_kfp, tmp_path):
  package, spec = compiled
  host, state = fake_kfp
  assert parse_params(spec, ['epochs=2', 'accuracy_threshold=0.9']) == {
      'epochs': 2, 'accuracy_threshold': 0.9}
  for params, message in ((['epoch=2'], 'not a parameter of this pipeline'),
                          (['epochs=two'], 'not a valid number_integer'),
                          (['epochs'], 'expected NAME=VALUE')):
    with pytest.raises(UploadError, match=message):
      upload(host, package, run=True, param_assignments=params, log=lambda _: None)
  with pytest.raises(UploadError, match='only apply with --run'):
    upload(host, package, param_assignments=['epochs=2'], log=lambda _: None)
  assert state['requests'] == []
  bad = tmp_path / 'bad.yaml'
  bad.write_text('just: a mapping\n')
  with pytest.raises(UploadError, match='not a compiled pipeline'):
    read_package(str(bad))
  with pytest.raises(UploadError, match='cannot read the package'):
    read_package(str(tmp_path / 'missing.yaml'))
