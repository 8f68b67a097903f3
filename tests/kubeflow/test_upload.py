"""`python -m kubeflow upload`: the unreachable and the silent host for real, and the request
shapes against a small fake KFP API server on loopback (a stand-in for the KFP backend, named as
such), in single-user and in multi-user mode."""

import cgi
import collections
import datetime
import io
import json
import re
import socket
import threading
import time
import types
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kubeflow import upload as upload_lib
from kubeflow.upload import UploadError, UsageError, parse_params, read_package, upload
from tests.kubeflow.conftest import run_cli

NS = 'team-a'
_MULTI_USER_EXPERIMENT = (
  'Invalid input error: An experiment cannot have an empty namespace in multi-user mode'
)


class FakeKfpApi(BaseHTTPRequestHandler):
  """Answers the v2beta1 calls kfp.Client 2.5 makes as the KFP API server does; records each
  request. Followed (kubeflow/pipelines at tag 2.0.5, the backend of kfp_server_api 2.0.5, unless
  said otherwise):

  - healthz: backend/src/apiserver/main.go writes 200 {"commit_sha", "tag_name", "multi_user"}.
  - namespaces: resource/resource_manager.go ReplaceNamespace: a single-user server drops the
    namespace (everything lives in ""); a multi-user one keeps pipelines per namespace, "" holding
    the shared ones that anyone may list or add to (server/pipeline_server.go canAccessPipeline).
  - experiments: server/experiment_server.go canAccessExperiment refuses an empty namespace in
    multi-user mode with InvalidArgument, which grpc-gateway v1.16 (go.mod) sends as HTTP 400
    {"error", "code": 3, "message", "details"}; the message chains the util.Wrap prefixes.
  - upload without a namespace in multi-user mode: stored as a shared pipeline up to 2.14; from
    2.15 with REQUIRE_NAMESPACE_FOR_PIPELINES (state['require_namespace']) refused by
    server/pipeline_upload_server.go with http.Error 400, text/plain, validation/namespace.go's
    "Invalid input error: Namespace is required for pipeline operations".
  - a version name that the pipeline already has: storage/pipeline_store.go AlreadyExists, which
    pipeline_upload_server.go writeErrorToResponse sends as 500 {"error_message", "error_details"}.
  - runs: server/run_server.go createRun takes the namespace of the run's experiment
    (GetValidExperimentNamespacePair) and refuses an empty one in multi-user mode.
  """

  state = None  # set per server, see the fake_kfp fixture

  def _reply(self, code, body, content_type='application/json'):
    data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    self.send_response(code)
    self.send_header('Content-Type', content_type)
    self.send_header('Content-Length', str(len(data)))
    self.end_headers()
    self.wfile.write(data)

  def _grpc_error(self, http_code, grpc_code, message):
    return self._reply(
      http_code, {'error': message, 'code': grpc_code, 'message': message, 'details': []}
    )

  def _record(self, body=b''):
    url = urllib.parse.urlparse(self.path)
    request = {
      'method': self.command,
      'path': url.path,
      'query': dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True)),
      'body': body,
      'content_type': self.headers.get('Content-Type', ''),
    }
    self.state['requests'].append(request)
    return request

  def _namespace(self, given):
    return given if self.state['multi_user'] else ''  # ResourceManager.ReplaceNamespace

  @staticmethod
  def _wanted(request):
    predicate = json.loads(request['query']['filter'])['predicates'][0]
    return predicate.get('string_value', predicate.get('stringValue'))

  def _hang(self, request):
    if self.state.get('hang') == request['path']:
      self.state['release'].wait(60)  # a host that took the request and never answers
      return True
    return False

  def do_GET(self):  # noqa: N802
    request = self._record()
    if self._hang(request):
      return None
    if self.state.get('status'):
      return self._grpc_error(self.state['status'], 16, 'access denied')
    path, query = request['path'], request['query']
    if path == '/apis/v2beta1/healthz':
      return self._reply(
        200,
        {'commit_sha': 'unknown', 'tag_name': 'unknown', 'multi_user': self.state['multi_user']},
      )
    if path == '/apis/v2beta1/pipelines':
      namespace, wanted = self._namespace(query.get('namespace', '')), self._wanted(request)
      found = [
        {'pipeline_id': pid, 'display_name': n, 'namespace': ns}
        for (ns, n), pid in self.state['pipelines'].items()
        if ns == namespace and n == wanted
      ]
      return self._reply(200, {'pipelines': found, 'total_size': len(found)})
    if path.endswith('/versions'):
      versions = self.state['versions'][path.split('/')[-2]]
      return self._reply(
        200,
        {
          'pipeline_versions': [
            {'pipeline_version_id': vid, 'display_name': n} for vid, n in versions
          ]
        },
      )
    if path == '/apis/v2beta1/experiments':
      namespace = self._namespace(query.get('namespace', ''))
      if self.state['multi_user'] and not namespace:
        return self._grpc_error(
          400, 3, 'List experiments failed: Failed to authorize with API: ' + _MULTI_USER_EXPERIMENT
        )
      wanted = self._wanted(request)
      found = [
        {'experiment_id': eid, 'display_name': n, 'namespace': ns}
        for (ns, n), eid in self.state['experiments'].items()
        if ns == namespace and n == wanted
      ]
      return self._reply(200, {'experiments': found, 'total_size': len(found)})
    return self._grpc_error(404, 5, 'Not Found')

  def do_POST(self):  # noqa: N802
    length = int(self.headers.get('Content-Length') or 0)
    request = self._record(self.rfile.read(length))
    if self._hang(request):
      return None
    path, query, state = request['path'], request['query'], self.state
    if state.get('reject_upload') and path.startswith('/apis/v2beta1/pipelines/upload'):
      return self._reply(
        400,
        {
          'error_message': 'Failed to create a pipeline: invalid pipeline spec',
          'error_details': '…',
        },
      )
    if path == '/apis/v2beta1/pipelines/upload':
      namespace = self._namespace(query.get('namespace', ''))
      if state['multi_user'] and state.get('require_namespace') and not namespace:
        return self._reply(
          400,
          'Invalid input error: Namespace is required for pipeline operations\n',
          'text/plain; charset=utf-8',
        )
      pid = f'p-{len(state["pipelines"]) + 1}'
      state['pipelines'][(namespace, query['name'])] = pid
      state['versions'][pid] = [(f'{pid}-v1', query['name'])]
      return self._reply(
        200, {'pipeline_id': pid, 'display_name': query['name'], 'namespace': namespace}
      )
    if path == '/apis/v2beta1/pipelines/upload_version':
      versions = state['versions'][query['pipelineid']]
      if any(n == query['name'] for _, n in versions):
        message = (
          'Failed to create a pipeline version: Already exist error: Failed to create a '
          f'new pipeline version. The name {query["name"]} already exist. Specify a new '
          'name'
        )
        return self._reply(500, {'error_message': message, 'error_details': message})
      versions.append((f'{query["pipelineid"]}-v{len(versions) + 1}', query['name']))
      return self._reply(
        200,
        {
          'pipeline_version_id': versions[-1][0],
          'pipeline_id': query['pipelineid'],
          'display_name': query['name'],
        },
      )
    if path == '/apis/v2beta1/experiments':
      body = json.loads(request['body'])
      namespace = self._namespace(body.get('namespace') or '')
      if state['multi_user'] and not namespace:
        return self._grpc_error(
          400,
          3,
          'Failed to create a experiment: Failed to authorize the '
          'request: ' + _MULTI_USER_EXPERIMENT,
        )
      eid = f'e-{len(state["experiments"]) + 1}'
      state['experiments'][(namespace, body['display_name'])] = eid
      return self._reply(
        200, {'experiment_id': eid, 'display_name': body['display_name'], 'namespace': namespace}
      )
    if path == '/apis/v2beta1/runs':
      body = json.loads(request['body'])
      namespace = {eid: ns for (ns, _), eid in state['experiments'].items()}.get(
        body.get('experiment_id'), ''
      )
      if state['multi_user'] and not namespace:
        return self._grpc_error(
          400, 3, 'Invalid input error: A run cannot have an empty namespace in multi-user mode'
        )
      state['runs'].append({'namespace': namespace, **body})
      return self._reply(200, {'run_id': f'r-{len(state["runs"])}'})
    return self._grpc_error(404, 5, 'Not Found')

  def log_message(self, *args):
    pass


@pytest.fixture
def fake_kfp(monkeypatch, tmp_path):
  """The fake server, and kfp's context file (which may hold a namespace) moved out of $HOME."""
  import kfp

  monkeypatch.setenv('HOME', str(tmp_path))  # for the CLI's subprocesses
  monkeypatch.setattr(kfp.Client, '_LOCAL_KFP_CONTEXT', str(tmp_path / 'context.json'))
  monkeypatch.setattr(kfp.Client, '_NAMESPACE_PATH', str(tmp_path / 'no-service-account'))
  state = {
    'requests': [],
    'pipelines': {},
    'versions': {},
    'experiments': {},
    'runs': [],
    'status': None,
    'multi_user': False,
    'release': threading.Event(),
  }
  handler = type('Handler', (FakeKfpApi,), {'state': state})
  server = ThreadingHTTPServer(('127.0.0.1', 0), handler)
  threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.02}, daemon=True).start()
  yield f'http://127.0.0.1:{server.server_port}', state
  state['release'].set()
  server.shutdown()
  server.server_close()


def _quiet(_):
  pass


def _uploaded_file(request):
  form = cgi.FieldStorage(
    fp=io.BytesIO(request['body']),
    environ={
      'REQUEST_METHOD': 'POST',
      'CONTENT_TYPE': request['content_type'],
      'CONTENT_LENGTH': str(len(request['body'])),
    },
  )
  return form['uploadfile'].file.read()


def _one_error_line(proc):
  assert 'Traceback' not in proc.stdout + proc.stderr
  [line] = proc.stderr.strip().splitlines()
  return line


def test_unreachable_host_fails_fast_with_one_line(compiled):
  package, _ = compiled
  started = time.monotonic()
  proc = run_cli('upload', '--host', 'http://127.0.0.1:9', '--package', package)
  assert time.monotonic() - started < 30
  assert proc.returncode == 1
  assert _one_error_line(proc).startswith(
    'error: http://127.0.0.1:9: cannot reach the Kubeflow Pipelines API ([Errno 111]'
  )


@pytest.mark.slow  # waits out a timeout on purpose
def test_silent_host_ends_within_the_timeout_with_one_line(compiled):
  """A host that accepts the connection and never answers (kfp itself would wait forever)."""
  package, _ = compiled
  with socket.socket() as listener:
    listener.bind(('127.0.0.1', 0))
    listener.listen(8)
    held = []
    threading.Thread(target=lambda: held.append(listener.accept()), daemon=True).start()
    host = f'http://127.0.0.1:{listener.getsockname()[1]}'
    started = time.monotonic()
    proc = run_cli('upload', '--host', host, '--package', package, '--timeout', '2', timeout=60)
    assert time.monotonic() - started < 2 + 5
  assert held, 'the connection was accepted'
  assert proc.returncode == 1
  assert _one_error_line(proc) == (
    f'error: {host}: no answer from the Kubeflow Pipelines API within 2 s (--timeout)'
  )


def test_every_request_is_bounded_not_only_the_first(compiled, fake_kfp):
  package, _ = compiled
  host, state = fake_kfp
  state['hang'] = '/apis/v2beta1/pipelines/upload'  # answers healthz and the lookup, then not
  started = time.monotonic()
  with pytest.raises(UploadError, match=r'no answer from the Kubeflow Pipelines API within 1 s'):
    upload(host, package, timeout=1, log=_quiet)
  assert time.monotonic() - started < 1 + 5
  assert [r['path'] for r in state['requests']][-1] == '/apis/v2beta1/pipelines/upload'


def test_new_pipeline_then_new_version_then_run(compiled, fake_kfp):
  package, _ = compiled
  host, state = fake_kfp
  first = upload(host, package, log=_quiet)
  assert first == {
    'pipeline_id': 'p-1',
    'version_id': 'p-1-v1',
    'experiment_id': None,
    'run_id': None,
  }
  [upload_request] = [r for r in state['requests'] if r['path'].endswith('/pipelines/upload')]
  assert upload_request['query']['name'] == 'mnist-tfx'
  assert 'namespace' not in upload_request['query']  # single-user: none sent
  with open(package, 'rb') as f:
    assert _uploaded_file(upload_request) == f.read()

  state['requests'].clear()
  proc = run_cli(
    'upload',
    '--host',
    host,
    '--package',
    package,
    '--run',
    '--param',
    'epochs=3',
    '--param',
    'accuracy_threshold=0.995',
    '--param',
    'data_dir=gs://d/mnist',
    '--pipeline-root',
    'gs://bucket/run-root',
    '--namespace',
    NS,
  )
  assert proc.returncode == 0, proc.stderr
  assert f'{host} is single-user: --namespace {NS} does not apply' in proc.stdout
  assert 'Uploaded version mnist-tfx-' in proc.stdout and 'Started run r-1' in proc.stdout
  assert not any(r['query'].get('namespace') == NS for r in state['requests'])
  [version_request] = [r for r in state['requests'] if r['path'].endswith('/upload_version')]
  assert version_request['query']['pipelineid'] == 'p-1'
  assert re.fullmatch(r'mnist-tfx-\d{8}-\d{6}-[0-9a-f]{6}', version_request['query']['name'])
  assert re.fullmatch(
    r'pipeline\.yaml sha256:[0-9a-f]{64}', version_request['query']['description']
  )
  [run_request] = [r for r in state['requests'] if r['path'] == '/apis/v2beta1/runs']
  body = json.loads(run_request['body'])
  assert body['pipeline_version_reference'] == {
    'pipeline_id': 'p-1',
    'pipeline_version_id': 'p-1-v2',
  }
  assert body['runtime_config']['parameters'] == {
    'epochs': 3,
    'accuracy_threshold': 0.995,
    'data_dir': 'gs://d/mnist',
  }
  assert body['runtime_config']['pipeline_root'] == 'gs://bucket/run-root'
  assert body['experiment_id'] == 'e-1'
  assert body['display_name'] == version_request['query']['name']


def test_multi_user_without_namespace_is_refused_before_any_post(compiled, fake_kfp):
  package, _ = compiled
  host, state = fake_kfp
  state['multi_user'] = True
  proc = run_cli('upload', '--host', host, '--package', package, '--run')
  assert proc.returncode == 1
  assert _one_error_line(proc) == (
    f'error: {host}: this Kubeflow Pipelines is multi-user: pass --namespace (your profile '
    'namespace); nothing was uploaded'
  )
  assert [(r['method'], r['path']) for r in state['requests']] == [('GET', '/apis/v2beta1/healthz')]


def test_multi_user_namespace_goes_on_every_call_that_takes_one(compiled, fake_kfp):
  package, _ = compiled
  host, state = fake_kfp
  state.update(multi_user=True, require_namespace=True)
  state['pipelines'][('', 'mnist-tfx')] = 'p-shared'  # a shared one of the same name: not ours
  state['versions']['p-shared'] = [('p-shared-v1', 'mnist-tfx')]
  first = upload(host, package, run=True, namespace=NS, log=_quiet)
  second = upload(host, package, run=True, namespace=NS, log=_quiet)
  assert first['pipeline_id'] == second['pipeline_id'] == state['pipelines'][(NS, 'mnist-tfx')]
  assert first['version_id'] != second['version_id']
  seen = collections.Counter()
  for request in state['requests']:
    if request['method'] == 'POST' and request['path'] == '/apis/v2beta1/experiments':
      given = json.loads(request['body'])['namespace']
    elif request['path'] in (
      '/apis/v2beta1/pipelines',
      '/apis/v2beta1/pipelines/upload',
      '/apis/v2beta1/experiments',
    ):
      given = request['query']['namespace']
    else:  # healthz, versions, upload_version, runs: the API takes no namespace there
      continue
    assert given == NS, request
    seen[request['method'], request['path']] += 1
  assert seen == {
    ('GET', '/apis/v2beta1/pipelines'): 2,
    ('GET', '/apis/v2beta1/experiments'): 2,
    ('POST', '/apis/v2beta1/experiments'): 1,
    ('POST', '/apis/v2beta1/pipelines/upload'): 1,
  }
  assert [run['namespace'] for run in state['runs']] == [NS, NS]
  assert state['versions']['p-shared'] == [('p-shared-v1', 'mnist-tfx')]
  # The OSS backend ignores the spec's defaultPipelineRoot: the run carries the compiled root.
  runs = [json.loads(r['body']) for r in state['requests'] if r['path'] == '/apis/v2beta1/runs']
  assert [r['runtime_config']['pipeline_root'] for r in runs] == ['gs://bucket/root'] * 2


def test_namespace_defaults_to_kfp_context(compiled, fake_kfp, tmp_path):
  package, _ = compiled
  host, state = fake_kfp
  state['multi_user'] = True
  (tmp_path / 'context.json').write_text(json.dumps({'namespace': 'team-b'}))
  upload(host, package, log=_quiet)
  upload(host, package, name='other', namespace=NS, log=_quiet)  # --namespace comes first
  assert [
    r['query']['namespace'] for r in state['requests'] if r['path'].endswith('/pipelines/upload')
  ] == ['team-b', NS]


def test_experiment_is_reused_in_its_namespace_or_created_there(compiled, fake_kfp):
  package, _ = compiled
  host, state = fake_kfp
  state['multi_user'] = True
  state['experiments'].update({(NS, 'nightly'): 'e-nightly', ('team-b', 'weekly'): 'e-other'})
  reused = upload(host, package, run=True, experiment='nightly', namespace=NS, log=_quiet)
  assert reused['experiment_id'] == 'e-nightly'
  assert not [
    r
    for r in state['requests']
    if r['method'] == 'POST' and r['path'] == '/apis/v2beta1/experiments'
  ]
  created = upload(host, package, run=True, experiment='weekly', namespace=NS, log=_quiet)
  assert created['experiment_id'] not in ('e-nightly', 'e-other')
  [create] = [
    r
    for r in state['requests']
    if r['method'] == 'POST' and r['path'] == '/apis/v2beta1/experiments'
  ]
  assert json.loads(create['body']) == {'display_name': 'weekly', 'namespace': NS}
  assert state['experiments'][(NS, 'weekly')] == created['experiment_id']
  assert [(run['experiment_id'], run['namespace']) for run in state['runs']] == [
    ('e-nightly', NS),
    (created['experiment_id'], NS),
  ]


def test_two_uploads_in_the_same_second_get_distinct_version_names(compiled, fake_kfp, monkeypatch):
  package, _ = compiled
  host, state = fake_kfp

  class Frozen(datetime.datetime):
    @classmethod
    def now(cls, tz=None):
      return cls(2024, 5, 6, 7, 8, 9, tzinfo=tz)

  monkeypatch.setattr(
    upload_lib, 'datetime', types.SimpleNamespace(datetime=Frozen, timezone=datetime.timezone)
  )
  upload(host, package, log=_quiet)  # the pipeline, so that the next two are versions
  ids = {upload(host, package, log=_quiet)['version_id'] for _ in range(2)}
  names = [n for _, n in state['versions']['p-1'][1:]]
  assert len(ids) == 2 and len(set(names)) == 2
  assert all(n.startswith('mnist-tfx-20240506-070809-') for n in names)


def test_auth_failure_is_one_line(compiled, fake_kfp):
  package, _ = compiled
  host, state = fake_kfp
  state['status'] = 401
  started = time.monotonic()
  proc = run_cli('upload', '--host', host, '--package', package)
  assert time.monotonic() - started < 30
  assert proc.returncode == 1
  assert _one_error_line(proc).startswith(
    f'error: {host}: request refused: authentication failed (HTTP 401)'
  )


def test_rejected_package_is_one_line(compiled, fake_kfp):
  package, _ = compiled
  host, state = fake_kfp
  state['reject_upload'] = True
  with pytest.raises(
    UploadError,
    match=r'request refused: HTTP 400 .*: Failed to create a '
    r'pipeline: invalid pipeline spec$',
  ):
    upload(host, package, log=_quiet)


def test_fake_refuses_an_empty_namespace_as_a_multi_user_backend_does(compiled, fake_kfp):
  """What the old upload met on multi-user Kubeflow (no namespace anywhere), and how it reads."""
  import kfp_server_api

  package, _ = compiled
  host, state = fake_kfp
  state.update(multi_user=True, require_namespace=True)
  client = upload_lib._client_class()(5, host=host)
  calls = (
    (
      lambda: client.upload_pipeline(package),
      'Invalid input error: Namespace is required for pipeline operations',
    ),
    (
      lambda: client.get_experiment(experiment_name='Default', namespace=''),
      f'List experiments failed: Failed to authorize with API: {_MULTI_USER_EXPERIMENT}',
    ),
    (
      lambda: client._experiment_api.create_experiment(
        body=kfp_server_api.V2beta1Experiment(display_name='Default')
      ),
      f'Failed to create a experiment: Failed to authorize the request: {_MULTI_USER_EXPERIMENT}',
    ),
  )
  for call, message in calls:
    with pytest.raises(kfp_server_api.ApiException) as raised:
      call()
    assert upload_lib._describe(raised.value, host, 5) == (
      f'{host}: request refused: HTTP 400 Bad Request: {message}'
    )
  assert not state['pipelines'] and not state['experiments']


def test_arguments_are_checked_before_contacting_the_host(compiled, fake_kfp, tmp_path):
  package, spec = compiled
  host, state = fake_kfp
  assert parse_params(spec, ['epochs=2', 'accuracy_threshold=0.9']) == {
    'epochs': 2,
    'accuracy_threshold': 0.9,
  }
  for params, message in (
    (['epoch=2'], 'not a parameter of this pipeline'),
    (['epochs=two'], 'not a valid number_integer'),
    (['epochs'], 'expected NAME=VALUE'),
  ):
    with pytest.raises(UsageError, match=message):
      upload(host, package, run=True, param_assignments=params, log=_quiet)
  with pytest.raises(UsageError, match='only apply with --run'):
    upload(host, package, param_assignments=['epochs=2'], log=_quiet)
  for namespace in ('Team_A', '', '-a', 'a' * 64):
    with pytest.raises(UsageError, match='not a Kubernetes namespace name'):
      upload(host, package, namespace=namespace, log=_quiet)
  proc = run_cli('upload', '--host', host, '--package', package, '--namespace', 'Team_A')
  assert proc.returncode == 2
  assert _one_error_line(proc).startswith("error: --namespace 'Team_A': not a Kubernetes")
  proc = run_cli('upload', '--host', host, '--package', package, '--timeout', '0')
  assert proc.returncode == 2
  assert state['requests'] == []
  bad = tmp_path / 'bad.yaml'
  bad.write_text('just: a mapping\n')
  with pytest.raises(UploadError, match='not a compiled pipeline'):
    read_package(str(bad))
  with pytest.raises(UploadError, match='cannot read the package'):
    read_package(str(tmp_path / 'missing.yaml'))


def test_a_run_root_kfp_cannot_use_is_refused_before_any_request(compiled, fake_kfp):
  package, _ = compiled
  host, state = fake_kfp
  for root, message in (
    ('minio://mlpipeline/v2/artifacts', 'use s3://mlpipeline/v2/artifacts'),
    ('/mnt/root', 'take only an object-store root'),
  ):
    proc = run_cli('upload', '--host', host, '--package', package, '--run', '--pipeline-root', root)
    assert proc.returncode == 2
    assert (
      _one_error_line(proc).startswith(f'error: --pipeline-root {root}') and message in proc.stderr
    )
  assert state['requests'] == []
