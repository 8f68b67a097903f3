"""Reads a Kubeflow Pipelines health check, from the API server or from the UI in front of it,
within one deadline for the whole exchange.

Two servers answer GET /apis/v2beta1/healthz (kubeflow/pipelines, every tag 2.0.5 to 2.17.0):

- the API server (backend/src/apiserver/main.go): {"commit_sha", "tag_name", "multi_user"[,
  "pipeline_store"]};
- the UI, ml-pipeline-ui (frontend/server/handlers/healthz.ts getHealthzHandler), which is what
  `kubectl port-forward svc/ml-pipeline-ui 8080:80` and the Kubeflow gateway's /pipeline reach:
  its own {"buildDate", "frontendCommitHash", "frontendTagName"} plus what it read from the API
  server within 1 s: "apiServerReady", "apiServerCommitHash", "apiServerTagName",
  "apiServerMultiUser", "multi_user" (and from 2.17.0 "pipelineStore"). When the API server does
  not answer it sends apiServerReady false (and, its object being shared between requests, may
  keep the fields of an earlier answer).

The deadline (`--timeout`) bounds everything: connecting, sending, every redirect and every byte
of every answer. A socket timeout alone restarts with each byte, so a server that trickles its
answer would hold the check for ever; here the exchange runs in a thread the caller stops
waiting for when the deadline passes."""

import dataclasses
import http.client
import json
import math
import socket
import ssl
import threading
import time
import urllib.parse
from typing import Any, Dict, Optional

from kubeflow.display import clean, printable, without_userinfo
from kubeflow.releases import HEALTHZ_PATH

MAX_REDIRECTS = 5
MAX_BODY = 1 << 20  # a health check is a few hundred bytes
MAX_TIMEOUT = 600.0
API_SERVER = 'the API server'
UI = 'the UI (ml-pipeline-ui)'


class HealthzError(RuntimeError):
  """One line: what went wrong, against which endpoint (no userinfo, no control characters)."""

  def __init__(self, message: str, usage: bool = False):
    super().__init__(clean(message))
    self.usage = usage  # a problem in the arguments (exit code 2)


@dataclasses.dataclass(frozen=True)
class Health:
  endpoint: str  # API_SERVER or UI
  url: str  # the URL that answered (after redirects), without userinfo
  tag_name: str  # the API server's release as it says it ('unknown' when built without one)
  multi_user: bool
  frontend_tag_name: str = ''  # the UI's own release, when the UI answered


def check_timeout(timeout: float) -> float:
  if not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and 0 < timeout):
    raise HealthzError(f'--timeout {timeout}: must be more than 0 seconds', usage=True)
  if timeout > MAX_TIMEOUT:
    raise HealthzError(f'--timeout {timeout:g}: at most {MAX_TIMEOUT:g} seconds', usage=True)
  return float(timeout)


def healthz_url(host: str) -> str:
  """host (`http[s]://HOST[:PORT][/PATH]`, e.g. the gateway's http://HOST/pipeline) + the path."""
  parts = urllib.parse.urlsplit(host)
  if parts.scheme not in ('http', 'https') or not parts.hostname:
    raise HealthzError(
      f'--host {without_userinfo(host)!r}: expected http://HOST[:PORT][/PATH] or https://…',
      usage=True,
    )
  return host.rstrip('/') + HEALTHZ_PATH


class _Exchange:
  """One GET with redirects, run in a thread; `close()` aborts it from outside."""

  def __init__(self, url: str, token: Optional[str], deadline: float):
    self.url, self.token, self.deadline = url, token, deadline
    self.connection: Optional[http.client.HTTPConnection] = None
    self.sock: Optional[socket.socket] = None  # kept: http.client drops it once the answer began
    self.result: Dict[str, Any] = {}
    self.redirects = 0

  def _remaining(self) -> float:
    return max(self.deadline - time.monotonic(), 0.001)

  def _get(self, url: str):
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or '', parts.port
    if parts.scheme == 'https':
      self.connection = http.client.HTTPSConnection(
        host, port, timeout=self._remaining(), context=ssl.create_default_context()
      )
    else:
      self.connection = http.client.HTTPConnection(host, port, timeout=self._remaining())
    path = (parts.path or '/') + (f'?{parts.query}' if parts.query else '')
    headers = {'Accept': 'application/json'}
    if self.token:
      headers['Authorization'] = f'Bearer {self.token}'
    self.connection.connect()
    self.sock = self.connection.sock
    self.connection.request('GET', path, headers=headers)
    response = self.connection.getresponse()
    body = b''
    while len(body) <= MAX_BODY:
      self.sock.settimeout(self._remaining())
      chunk = response.read1(65536)
      if not chunk:
        break
      body += chunk
    self.connection.close()
    return response, body

  def run(self) -> None:
    try:
      url = self.url
      while True:
        response, body = self._get(url)
        location = response.getheader('Location')
        if response.status in (301, 302, 303, 307, 308) and location:
          if self.redirects >= MAX_REDIRECTS:
            raise HealthzError(f'{url}: more than {MAX_REDIRECTS} redirects')
          url = urllib.parse.urljoin(url, location)
          if urllib.parse.urlsplit(url).scheme not in ('http', 'https'):
            raise HealthzError(f'redirected to {url}, which is not http(s)')
          self.redirects += 1
          continue
        self.result.update(url=url, status=response.status, reason=response.reason, body=body)
        self.result['type'] = response.getheader('Content-Type') or ''
        return
    except BaseException as e:  # noqa: BLE001  # handed to the caller's thread
      self.result['error'] = e

  def close(self) -> None:
    if self.sock is not None:
      try:
        self.sock.shutdown(socket.SHUT_RDWR)
      except OSError:
        pass


def _where(url: str) -> str:
  """HOST[:PORT] of a URL, without its userinfo."""
  return urllib.parse.urlsplit(url).netloc.rpartition('@')[2]


def _unreachable(error: BaseException, url: str) -> str:
  where = _where(url)
  if isinstance(error, HealthzError):
    return str(error)
  if isinstance(error, ConnectionRefusedError):
    why = 'connection refused'
  elif isinstance(error, socket.gaierror):
    why = f'name not resolved: {error.strerror or error}'
  elif isinstance(error, ssl.SSLError):
    why = f'TLS: {error.reason or error}'
  elif isinstance(error, (http.client.HTTPException, OSError)):
    why = str(error) or type(error).__name__
  else:
    why = f'{type(error).__name__}: {error}'
  return f'{where}: cannot reach the Kubeflow Pipelines API ({why})'


def fetch(host: str, timeout: float, token: Optional[str] = None) -> Dict[str, Any]:
  """GET host + /apis/v2beta1/healthz: {url, status, reason, body, type}; HealthzError once the
  deadline passes or the exchange fails."""
  timeout = check_timeout(timeout)
  url = healthz_url(host)
  exchange = _Exchange(url, token, time.monotonic() + timeout)
  thread = threading.Thread(target=exchange.run, name='kfp-healthz', daemon=True)
  thread.start()
  thread.join(timeout)
  timed_out = isinstance(exchange.result.get('error'), (socket.timeout, TimeoutError))
  if thread.is_alive() or timed_out:
    exchange.close()  # the thread ends at its next read; we do not wait for it
    hops = f', after {exchange.redirects} redirect(s)' if exchange.redirects else ''
    raise HealthzError(
      f'{_where(url)}: no complete answer from the Kubeflow Pipelines API '
      f'within {timeout:g} s{hops} (--timeout bounds the whole exchange, redirects included)'
    )
  if 'error' in exchange.result:
    raise HealthzError(_unreachable(exchange.result['error'], url))
  return exchange.result


def _refusal(answer: Dict[str, Any]) -> str:
  url, status = answer['url'], answer['status']
  if status in (401, 403):
    return (
      f'{url}: authentication failed (HTTP {status}); set KFP_TOKEN to a bearer token '
      'the endpoint accepts'
    )
  if status == 404:
    return (
      f'{url}: HTTP 404: neither the Kubeflow Pipelines API nor its UI answers there '
      '(through the Kubeflow gateway the host ends in /pipeline)'
    )
  text = ' '.join(printable(answer['body'].decode('utf-8', 'replace')).split())[:200]
  return f'{url}: HTTP {status} {printable(answer["reason"] or "")}: {text}'


def read(host: str, timeout: float, token: Optional[str] = None) -> Health:
  """The release and mode, from whichever server answered."""
  answer = fetch(host, timeout, token)
  url = without_userinfo(answer['url'])
  redirected = answer['url'] != healthz_url(host)
  if answer['status'] != 200:
    raise HealthzError(_refusal(dict(answer, url=url)))
  try:
    body = json.loads(answer['body'])
  except ValueError:
    login = (
      ' (redirected: a login page? set KFP_TOKEN to a bearer token the endpoint accepts)'
      if redirected
      else ''
    )
    raise HealthzError(f'{url}: the answer is not JSON{login}') from None
  if not isinstance(body, dict):
    raise HealthzError(f'{url}: the answer is not a JSON object')
  if 'apiServerReady' in body or 'frontendTagName' in body:
    if body.get('apiServerReady') is not True:
      raise HealthzError(
        f'{url}: {UI} answered, but it cannot reach the API server (apiServerReady '
        f'{json.dumps(body.get("apiServerReady"))}); is ml-pipeline running?'
      )
    endpoint, tag, multi = UI, body.get('apiServerTagName'), body.get('multi_user')
  elif 'tag_name' in body or 'multi_user' in body:
    endpoint, tag, multi = API_SERVER, body.get('tag_name'), body.get('multi_user')
  else:
    raise HealthzError(
      f'{url}: no tag_name or multi_user in the answer; is this the Kubeflow Pipelines API or UI?'
    )
  if not isinstance(multi, bool):
    raise HealthzError(f'{url}: {endpoint} answered multi_user {printable(json.dumps(multi))}')
  frontend = body.get('frontendTagName') if endpoint == UI else ''
  return Health(
    endpoint=endpoint,
    url=url,
    tag_name=printable(str(tag)) if tag is not None else 'unknown',
    multi_user=multi,
    frontend_tag_name=printable(str(frontend or '')),
  )
