"""A stand-in for the Kubeflow Pipelines API server's health check, on 127.0.0.1 only, answering
byte for byte as kubeflow/pipelines backend/src/apiserver/main.go writes it at each tag:

- 2.0.5 to 2.5.0 (startHttpProxy): `{"commit_sha":"…", "tag_name":"…", "multi_user":true}` from
  io.WriteString, Content-Type application/json, on /apis/v1beta1/healthz and /apis/v2beta1/healthz.
- 2.14.0 to 2.16.0: the same, v2beta1 adding `, "pipeline_store": "…"`.
- 2.17.0 (buildHTTPRouter, newHealthzResponse): json.Marshal of healthzResponse,
  {"commit_sha","tag_name","multi_user","pipeline_store" omitempty}, v1beta1 without the store.
tag_name and commit_sha are the image's TAG_NAME / COMMIT_SHA (backend/Dockerfile, default
"unknown"); anything else is 404 "404 page not found" (gorilla/mux's NotFound).

`serve_ui` plays the UI in front of it, ml-pipeline-ui (frontend/server/app.ts registers
/apis/v1beta1/healthz and /apis/v2beta1/healthz; handlers/healthz.ts getHealthzHandler, every tag
2.0.5 to 2.17.0): it fetches the API server's health check of the same version with a 1 s
timeout and answers Express's res.json of one `healthzStats` object shared by all requests: its
build metadata {buildDate, frontendCommitHash, frontendTagName} (files beside the server, empty
strings when absent), then apiServerReady true, apiServerCommitHash, apiServerTagName,
apiServerMultiUser, multi_user and, from 2.17.0, pipelineStore (undefined, so left out, when the
API server sends no pipeline_store); on any failure only apiServerReady becomes false and the
rest stays as the last success left it. app.ts getRegisterHandler registers each route both
as is and under its base path, /pipeline (configs.ts BASEPATH), the path the Kubeflow gateway
forwards; other paths go to express's static handler (404 "Cannot GET" for a missing file)."""

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple


def healthz_body(
  tag: str,
  multi_user: bool,
  api: str,
  pipeline_store: str = 'database',
  tag_name: Optional[str] = None,
) -> bytes:
  """The answer of release `tag`'s handler; tag_name as its image says (default: the tag)."""
  minor = int(tag.split('.')[1])
  tag = tag if tag_name is None else tag_name
  commit = 'abc1234'
  if minor >= 17:
    body = {'commit_sha': commit, 'tag_name': tag, 'multi_user': multi_user}
    if api == 'v2beta1' and pipeline_store:
      body['pipeline_store'] = pipeline_store
    return json.dumps(body, separators=(',', ':')).encode()
  text = f'{{"commit_sha":"{commit}", "tag_name":"{tag}", "multi_user":{str(multi_user).lower()}'
  if minor >= 14 and api == 'v2beta1':
    text += f', "pipeline_store": "{pipeline_store}"'
  return (text + '}').encode()


class StandInServer(ThreadingHTTPServer):
  """The HTTP server, with the paths it was asked for (`requests`, in order)."""

  requests: List[str]


def serve(tag: str, multi_user: bool, tag_name: Optional[str] = None) -> Tuple[StandInServer, str]:
  """Starts the stand-in for release `tag`; returns (server, base URL). shutdown() when done."""

  class Handler(BaseHTTPRequestHandler):
    requests: List[str] = []

    def do_GET(self):
      Handler.requests.append(self.path)
      for api in ('v1beta1', 'v2beta1'):
        if self.path == f'/apis/{api}/healthz':
          data, status, kind = (
            healthz_body(tag, multi_user, api, tag_name=tag_name),
            200,
            'application/json',
          )
          break
      else:
        data, status, kind = b'404 page not found\n', 404, 'text/plain; charset=utf-8'
      self.send_response(status)
      self.send_header('Content-Type', kind)
      self.send_header('Content-Length', str(len(data)))
      self.end_headers()
      self.wfile.write(data)

    def log_message(self, *args):
      pass

  server = StandInServer(('127.0.0.1', 0), Handler)
  server.requests = Handler.requests
  threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True).start()
  return server, f'http://127.0.0.1:{server.server_address[1]}'


UI_BASE_PATH = '/pipeline'


def serve_ui(
  tag: str, api_url: Optional[str], prefix: str = '', frontend_tag: Optional[str] = None
) -> Tuple[StandInServer, str]:
  """Starts the UI of release `tag` in front of the API server at `api_url` (None: an API server
  that does not answer); returns (server, base URL: `prefix` is '' or UI_BASE_PATH)."""
  minor = int(tag.split('.')[1])
  stats: Dict[str, Any] = {
    'buildDate': 'Tue Jun 23 2026',
    'frontendCommitHash': 'def5678',
    'frontendTagName': tag if frontend_tag is None else frontend_tag,
  }

  class Handler(BaseHTTPRequestHandler):
    requests: List[str] = []

    def do_GET(self):
      Handler.requests.append(self.path)
      for api in ('v1beta1', 'v2beta1'):
        if self.path in (f'/apis/{api}/healthz', f'{UI_BASE_PATH}/apis/{api}/healthz'):
          status_code = 200
          try:
            if api_url is None:
              raise OSError('no API server')
            with urllib.request.urlopen(f'{api_url}/apis/{api}/healthz', timeout=1) as answer:
              status = json.loads(answer.read())
            stats['apiServerReady'] = True
            stats['apiServerCommitHash'] = status.get('commit_sha')
            stats['apiServerTagName'] = status.get('tag_name')
            stats['apiServerMultiUser'] = status.get('multi_user')
            stats['multi_user'] = status.get('multi_user')
            if minor >= 17:
              stats['pipelineStore'] = status.get('pipeline_store')
          except (OSError, ValueError):
            stats['apiServerReady'] = False
          shown = {k: v for k, v in stats.items() if v is not None}  # JSON.stringify: no undefined
          data = json.dumps(shown, separators=(',', ':')).encode()
          kind = 'application/json; charset=utf-8'
          break
      else:  # express.static finds no such file: its 404
        status_code, kind = 404, 'text/html; charset=utf-8'
        data = f'<pre>Cannot GET {self.path}</pre>'.encode()
      self.send_response(status_code)
      self.send_header('Content-Type', kind)
      self.send_header('Content-Length', str(len(data)))
      self.end_headers()
      self.wfile.write(data)

    def log_message(self, *args):
      pass

  server = StandInServer(('127.0.0.1', 0), Handler)
  server.requests = Handler.requests
  threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True).start()
  return server, f'http://127.0.0.1:{server.server_address[1]}{prefix}'
