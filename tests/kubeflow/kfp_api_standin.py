"""A stand-in for the Kubeflow Pipelines API server's health check, on 127.0.0.1 only, answering
byte for byte as kubeflow/pipelines backend/src/apiserver/main.go writes it at each tag:

- 2.0.5 to 2.5.0 (startHttpProxy): `{"commit_sha":"…", "tag_name":"…", "multi_user":true}` from
  io.WriteString, Content-Type application/json, on /apis/v1beta1/healthz and /apis/v2beta1/healthz.
- 2.14.0 to 2.16.0: the same, v2beta1 adding `, "pipeline_store": "…"`.
- 2.17.0 (buildHTTPRouter, newHealthzResponse): json.Marshal of healthzResponse,
  {"commit_sha","tag_name","multi_user","pipeline_store" omitempty}, v1beta1 without the store.
tag_name and commit_sha are the image's TAG_NAME / COMMIT_SHA (backend/Dockerfile, default
"unknown"); anything else is 404 "404 page not found" (gorilla/mux's NotFound)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import List, Optional, Tuple


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
