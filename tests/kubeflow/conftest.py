"""Compiles the pipeline once per test module, as `python -m kubeflow compile` does."""
import os
import subprocess
import sys

import pytest
import yaml

from tests.conftest import REPO

IMAGE = 'registry.example.com/mnist:dev'


def run_cli(*args, timeout=300, cwd=REPO):
  return subprocess.run([sys.executable, '-m', 'kubeflow', *args], cwd=cwd, capture_output=True,
                        text=True, timeout=timeout, env=dict(os.environ, PYTHONPATH=REPO))


def compile_to(folder, *extra):
  output = os.path.join(folder, 'build', 'pipeline.yaml')
  proc = run_cli('compile', '--output', output, '--image', IMAGE, *extra)
  assert proc.returncode == 0, proc.stdout + proc.stderr
  with open(output) as f:
    return output, yaml.safe_load(f)


def compile_on_local_root(folder, root, *extra):
  """`kubeflow compile` onto a local folder as pipeline root, which the CLI refuses (KFP's
  launcher and Vertex take only object-store roots): for stand-in runs on plain files, where
  every artifact can be looked at. The same flags and compile_pipeline() as the CLI."""
  from kubeflow import __main__ as cli
  from kubeflow.compile import compile_pipeline
  from pipeline import config as config_lib
  output = os.path.join(folder, 'build', 'pipeline.yaml')
  args = cli._parser().parse_args(['compile', '--output', output, '--image', IMAGE,
                                   '--pipeline-root', 'gs://unused/root', *extra])
  config = config_lib.config_from_args(
      args, data_dir=args.data_dir or f'{root}/data/mnist', pipeline_root=root,
      serving_dir=args.serving_dir or f'{root}/serving', pipeline_name=args.pipeline_name)
  compile_pipeline(config, IMAGE, output, target=args.target, mlmd_address=args.mlmd_address)
  with open(output) as f:
    return output, yaml.safe_load(f)


@pytest.fixture(scope='session')
def compiled(tmp_path_factory):
  """The issue's acceptance command, run with no network access needed."""
  folder = str(tmp_path_factory.mktemp('kfp'))
  return compile_to(folder, '--pipeline-root', 'gs://bucket/root')


@pytest.fixture(scope='module')
def mlmd_service(tmp_path_factory):
  """A real ML Metadata gRPC service over a fresh SQLite store: (HOST:PORT, client store)."""
  import signal
  import time
  from ml_metadata import metadata_store
  from ml_metadata.proto import metadata_store_pb2
  folder = tmp_path_factory.mktemp('mlmd')
  port_file = folder / 'port'
  proc = subprocess.Popen(
      [sys.executable, '-m', 'tests.kubeflow.mlmd_service', '--sqlite', str(folder / 'mlmd.sqlite'),
       '--port-file', str(port_file)], cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO),
      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
  deadline = time.monotonic() + 60
  while not port_file.exists():
    if proc.poll() is not None or time.monotonic() > deadline:
      proc.kill()
      pytest.fail(f'ML Metadata service did not start: {proc.stderr.read().decode()[-2000:]}')
    time.sleep(0.1)
  address = f'127.0.0.1:{port_file.read_text()}'
  store = metadata_store.MetadataStore(metadata_store_pb2.MetadataStoreClientConfig(
      host='127.0.0.1', port=int(port_file.read_text())))
  yield address, store
  os.killpg(proc.pid, signal.SIGTERM)
  proc.wait(timeout=30)
