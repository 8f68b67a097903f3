"""A real ML Metadata gRPC service for the tests, as KFP's `metadata-grpc-service` is one.

KFP runs ml-metadata's C++ `metadata_store_server` (MetadataStoreService over MySQL). The wheel
has no server binary, but its pywrap extension is the same C++ store taking serialized
requests (ml_metadata/metadata_store/metadata_store.py, `_pywrap_cc_call`). This serves every
MetadataStoreService method by handing the request bytes to that store (SQLite here) and the
answer or its status code back, so clients speak real gRPC to a real store.

    python -m tests.kubeflow.mlmd_service --sqlite PATH --port-file FILE   (port 0: any free one)
"""

import argparse
import os
import threading
import time
from concurrent import futures

import grpc
from ml_metadata.metadata_store.pywrap.metadata_store_extension import metadata_store as pywrap
from ml_metadata.proto import metadata_store_pb2, metadata_store_service_pb2

SERVICE = 'ml_metadata.MetadataStoreService'
_CODES = {code.value[0]: code for code in grpc.StatusCode}


def _handlers(store):
  lock = threading.Lock()  # the store is one SQLite connection: one call at a time

  def forward(method):
    def handle(request: bytes, context):
      with lock:
        response, error, code = method(store, request)
      if code:
        context.abort(_CODES.get(code, grpc.StatusCode.UNKNOWN), error.decode('utf-8', 'replace'))
      return response

    return handle

  methods = metadata_store_service_pb2.DESCRIPTOR.services_by_name['MetadataStoreService'].methods
  return grpc.method_handlers_generic_handler(
    SERVICE,
    {
      m.name: grpc.unary_unary_rpc_method_handler(forward(getattr(pywrap, m.name)))
      for m in methods
      if hasattr(pywrap, m.name)
    },
  )


def serve(sqlite_path: str, port: int = 0):
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = sqlite_path
  config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
  store = pywrap.CreateMetadataStore(
    config.SerializeToString(), metadata_store_pb2.MigrationOptions().SerializeToString()
  )
  server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
  server.add_generic_rpc_handlers((_handlers(store),))
  bound = server.add_insecure_port(f'127.0.0.1:{port}')
  server.start()
  return server, bound


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--sqlite', required=True)
  parser.add_argument('--port', type=int, default=0)
  parser.add_argument('--port-file', required=True)
  args = parser.parse_args()
  server, port = serve(args.sqlite, args.port)
  tmp = args.port_file + '.tmp'
  with open(tmp, 'w') as f:
    f.write(str(port))
  os.replace(tmp, args.port_file)
  try:
    while True:
      time.sleep(3600)
  except KeyboardInterrupt:
    server.stop(0)


if __name__ == '__main__':
  main()
