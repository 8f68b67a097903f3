"""The health check read from the API server or from the UI in front of it (stand-ins written from
kubeflow/pipelines backend/src/apiserver/main.go and frontend/server/handlers/healthz.ts), within
one deadline for the whole exchange, against loopback servers that never answer, trickle, or
redirect to a silent port; what a server sends is cleaned before it is printed or parsed."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kubeflow import check, healthz
from kubeflow.upload import UploadError, UsageError
from tests.kubeflow import bad_servers, kfp_api_standin
from tests.kubeflow.conftest import run_cli

DEADLINE = 1.0
SLACK = 1.5  # a loaded machine's scheduling, on top of the deadline


def _plan(host, namespace=None, **kw):
  lines = []
  check.run(host, namespace, 5.0, log=lines.append, **kw)
  return lines


@pytest.mark.parametrize('tag', ['2.0.5', '2.14.0', '2.17.0'])
@pytest.mark.parametrize('prefix', ['', kfp_api_standin.UI_BASE_PATH])
def test_check_through_the_ui_prints_the_plan_for_that_release(tag, prefix):
  """`kubectl port-forward svc/ml-pipeline-ui` (no prefix) and the gateway's /pipeline: the UI's
  own answer, apiServerTagName and multi_user, no tag_name."""
  api, api_url = kfp_api_standin.serve(tag, multi_user=True)
  ui, ui_url = kfp_api_standin.serve_ui(tag, api_url, prefix=prefix)
  try:
    lines = _plan(ui_url, 'team-a')
  finally:
    ui.shutdown()
    api.shutdown()
  assert ui.requests == [f'{prefix}/apis/v2beta1/healthz'] and api.requests
  assert lines[0] == (
    f'{ui_url}/apis/v2beta1/healthz: answered by the UI (ml-pipeline-ui): tag_name {tag}, '
    'multi_user true'
  )
  minor = tag.split('.')[1]
  assert lines[1] == f'Kubeflow Pipelines 2.{minor}, multi-user, profile team-a'
  assert lines[1:] == check.plan((2, int(minor)), True, 'team-a')


def test_the_api_server_itself_is_named_as_such():
  api, url = kfp_api_standin.serve('2.16.0', multi_user=False)
  try:
    lines = _plan(url)
  finally:
    api.shutdown()
  assert 'answered by the API server: tag_name 2.16.0, multi_user false' in lines[0]


def test_a_ui_that_cannot_reach_the_api_server_says_so():
  ui, url = kfp_api_standin.serve_ui('2.17.0', api_url=None)
  try:
    with pytest.raises(UploadError, match=r'cannot reach the API server \(apiServerReady false\)'):
      _plan(url)
  finally:
    ui.shutdown()


def test_a_ui_of_an_api_server_built_without_a_release_names_the_uis_own():
  api, api_url = kfp_api_standin.serve('2.15.0', multi_user=False, tag_name='unknown')
  ui, url = kfp_api_standin.serve_ui('2.15.0', api_url)
  try:
    with pytest.raises(UsageError, match=r"tag_name 'unknown'; the UI's own release is '2.15.0'"):
      _plan(url)
    assert _plan(url, kfp_version='2.15')[1] == 'Kubeflow Pipelines 2.15, single-user'
  finally:
    ui.shutdown()
    api.shutdown()


def test_a_wrong_path_under_the_ui_is_a_404_line():
  ui, url = kfp_api_standin.serve_ui('2.17.0', api_url=None)
  try:
    with pytest.raises(
      UploadError, match='HTTP 404: neither the Kubeflow Pipelines API nor its UI'
    ):
      _plan(url + '/not-here')
  finally:
    ui.shutdown()


# ---------------------------------------------------------------- one deadline, whatever happens


def _timed_failure(host):
  start = time.monotonic()
  with pytest.raises(healthz.HealthzError) as e:
    healthz.read(host, DEADLINE)
  return time.monotonic() - start, str(e.value)


def test_a_server_that_never_answers_is_given_up_at_the_deadline():
  server = bad_servers.silent()
  try:
    elapsed, message = _timed_failure(server.url)
  finally:
    server.stop()
  assert elapsed < DEADLINE + SLACK
  assert 'no complete answer' in message and f'within {DEADLINE:g} s' in message
  assert '--timeout' in message and '\n' not in message


def test_a_server_that_trickles_is_given_up_at_the_deadline():
  """Each byte comes well within any socket timeout; only a deadline on the whole exchange ends
  it (kfp's client waited past 100 s for a --timeout of 5)."""
  server = bad_servers.trickle()
  try:
    elapsed, message = _timed_failure(server.url)
  finally:
    server.stop()
  assert elapsed < DEADLINE + SLACK
  assert f'within {DEADLINE:g} s' in message


def test_a_redirect_to_a_silent_port_counts_against_the_same_deadline():
  silent = bad_servers.silent()
  hop = bad_servers.redirect(silent.url)
  try:
    elapsed, message = _timed_failure(hop.url)
  finally:
    hop.stop()
    silent.stop()
  assert elapsed < DEADLINE + SLACK
  assert (
    f'within {DEADLINE:g} s, after 1 redirect(s)' in message and 'redirects included' in message
  )


def test_a_redirect_is_followed_to_the_api():
  api, url = kfp_api_standin.serve('2.17.0', multi_user=False)
  hop = bad_servers.redirect(url)
  try:
    health = healthz.read(hop.url, 5.0)
  finally:
    hop.stop()
    api.shutdown()
  assert health.url == url + '/apis/v2beta1/healthz' and health.tag_name == '2.17.0'


def test_a_refused_connection_is_one_line():
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
  with pytest.raises(healthz.HealthzError) as e:
    healthz.read(f'http://127.0.0.1:{port}', 2.0)
  assert 'cannot reach the Kubeflow Pipelines API (connection refused)' in str(e.value)


@pytest.mark.parametrize('timeout', [0, -1, float('nan'), float('inf'), 601])
def test_a_timeout_out_of_bounds_is_a_usage_error(timeout):
  with pytest.raises(healthz.HealthzError) as e:
    healthz.read('http://127.0.0.1:9', timeout)
  assert e.value.usage and '--timeout' in str(e.value)


# ---------------------------------------------------------------- what a server says is cleaned


def _answering(body: bytes, content_type='application/json'):
  class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
      self.send_response(200)
      self.send_header('Content-Type', content_type)
      self.send_header('Content-Length', str(len(body)))
      self.end_headers()
      self.wfile.write(body)

    def log_message(self, *args):
      pass

  server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
  threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True).start()
  return server, f'http://127.0.0.1:{server.server_address[1]}'


@pytest.mark.parametrize('tag', ['2.17.0\x1b[2J\x1b[H', '2.17.0-\x1b[2J', '\x1b]0;pwned\x072.17.0'])
def test_a_tag_name_with_control_characters_is_no_release_and_is_printed_clean(tag):
  body = json.dumps({'commit_sha': 'x', 'tag_name': tag, 'multi_user': False}).encode()
  server, url = _answering(body)
  try:
    with pytest.raises(UsageError) as e:
      _plan(url)
  finally:
    server.shutdown()
  message = str(e.value)
  assert 'does not say' in message and 'pass --kfp-version' in message
  assert not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in message)


def test_an_error_body_with_control_characters_is_printed_clean():
  class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
      body = b'\x1b[31mboom\x1b[0m\r\nsecond line'
      self.send_response(500)
      self.send_header('Content-Length', str(len(body)))
      self.end_headers()
      self.wfile.write(body)

    def log_message(self, *args):
      pass

  server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
  threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True).start()
  try:
    with pytest.raises(healthz.HealthzError) as e:
      healthz.read(f'http://127.0.0.1:{server.server_address[1]}', 5.0)
  finally:
    server.shutdown()
  assert 'HTTP 500' in str(e.value) and '[31mboom' in str(e.value)
  assert '\x1b' not in str(e.value) and '\n' not in str(e.value)


def test_a_multi_user_that_is_not_a_boolean_is_refused():
  server, url = _answering(b'{"tag_name": "2.17.0", "multi_user": "false"}')
  try:
    with pytest.raises(healthz.HealthzError, match='multi_user "false"'):
      healthz.read(url, 5.0)
  finally:
    server.shutdown()


def test_a_login_page_after_a_redirect_says_so():
  page, page_url = _answering(b'<html>Log in</html>', 'text/html')
  hop = bad_servers.redirect(page_url)
  try:
    with pytest.raises(healthz.HealthzError, match='not JSON .redirected: a login page.*KFP_TOKEN'):
      healthz.read(hop.url, 5.0)
  finally:
    hop.stop()
    page.shutdown()


def test_no_password_of_the_host_url_is_printed():
  api, url = kfp_api_standin.serve('2.16.0', multi_user=True)
  secret = 'PASSWORD-s3cr3t'
  host = url.replace('http://', f'http://user:{secret}@')
  lines = []
  try:
    with pytest.raises(UsageError) as e:  # multi-user without --namespace: a line with the URL
      check.run(host, None, 5.0, log=lines.append)
    check.run(host, 'team-a', 5.0, log=lines.append)
  finally:
    api.shutdown()
  assert url in str(e.value) and secret not in str(e.value) and '//user' not in str(e.value)
  assert lines and url in lines[0] and not [line for line in lines if secret in line]


@pytest.mark.slow  # processes that import kfp's client: a few seconds each
def test_cli_strips_the_password_from_every_line(tmp_path):
  secret = 'PASSWORD-s3cr3t'
  silent = bad_servers.silent()
  host = silent.url.replace('http://', f'http://user:{secret}@')
  package = tmp_path / 'pipeline.yaml'
  package.write_text('pipelineInfo: {name: p}\nroot: {}\n')
  try:
    runs = [  # (what ran, the exit code it must give: 1 no answer in time, 2 a bad flag)
      (run_cli('check', '--host', host, '--timeout', '1', timeout=120), 1),
      (
        run_cli('upload', '--host', host, '--package', str(package), '--timeout', '1', timeout=120),
        1,
      ),
      (run_cli('check', '--host', 'ftp://user:' + secret + '@h', timeout=120), 2),
    ]
  finally:
    silent.stop()
  for proc, code in runs:
    assert proc.returncode == code, proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith('error: ') and secret not in proc.stdout + proc.stderr, line
