"""Strategy selection (no TPU or second worker here), the bounded TPU connection, and the
static-shape input pipeline."""

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from concurrent import futures

import numpy as np
import pytest
import tensorflow as tf

from trainer_module import data
from trainer_module import strategy as strategy_lib
from trainer_module.config import TrainingConfig


def test_default_and_mirrored_build_on_cpu():
  default = strategy_lib.plan_strategy(TrainingConfig(), env={})
  assert default.kind == 'default' and not default.static_shapes
  assert strategy_lib.build_strategy(default).num_replicas_in_sync == 1
  mirrored = strategy_lib.plan_strategy(TrainingConfig(strategy='mirrored'), env={})
  assert isinstance(strategy_lib.build_strategy(mirrored), tf.distribute.MirroredStrategy)


def test_tpu_flag_selects_tpu_with_static_shapes():
  plan = strategy_lib.plan_strategy(TrainingConfig(tpu='grpc://10.240.1.2:8470'), env={})
  assert plan.kind == 'tpu' and plan.tpu == 'grpc://10.240.1.2:8470' and plan.static_shapes
  # The resolver the TPU path builds understands the address without contacting it.
  resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=plan.tpu)
  assert resolver.master() == 'grpc://10.240.1.2:8470'


def test_multi_worker_needs_tf_config():
  config = TrainingConfig(strategy='multi_worker', training_loop='custom')
  with pytest.raises(strategy_lib.StrategyError, match='needs TF_CONFIG'):
    strategy_lib.plan_strategy(config, env={})
  with pytest.raises(strategy_lib.StrategyError, match='not a valid cluster spec'):
    strategy_lib.plan_strategy(config, env={'TF_CONFIG': '{"task": {}}'})
  tf_config = {'cluster': {'worker': ['localhost:12345']}, 'task': {'type': 'worker', 'index': 0}}
  plan = strategy_lib.plan_strategy(config, env={'TF_CONFIG': json.dumps(tf_config)})
  assert plan.kind == 'multi_worker'


def test_tpu_timeout_comes_from_the_environment():
  config = TrainingConfig(tpu='grpc://10.240.1.2:8470')
  assert strategy_lib.plan_strategy(config, env={}).tpu_timeout_s == 60
  assert strategy_lib.plan_strategy(config, env={'MNIST_TPU_TIMEOUT': '2.5'}).tpu_timeout_s == 2.5
  for bad in ('soon', '0', '-1', 'inf', 'nan'):
    with pytest.raises(strategy_lib.StrategyError, match='MNIST_TPU_TIMEOUT=.* is not a positive'):
      strategy_lib.plan_strategy(config, env={'MNIST_TPU_TIMEOUT': bad})


@pytest.fixture
def silent_port():
  """A loopback port that accepts connections and never sends a byte."""
  listener = socket.socket()
  listener.bind(('127.0.0.1', 0))
  listener.listen(16)
  listener.settimeout(0.1)
  held, stop = [], threading.Event()

  def accept():
    while not stop.is_set():
      try:
        held.append(listener.accept()[0])
      except OSError:
        pass

  thread = threading.Thread(target=accept, daemon=True)
  thread.start()
  yield listener.getsockname()[1]
  stop.set()
  thread.join()
  for conn in held + [listener]:
    conn.close()


@pytest.fixture
def grpc_port():
  """A loopback gRPC server with no services: it answers the handshake, nothing more."""
  import grpc

  server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
  port = server.add_insecure_port('127.0.0.1:0')
  server.start()
  yield port
  server.stop(None)


def _closed_port():
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _build_failure(plan):
  started = time.monotonic()
  with pytest.raises(strategy_lib.StrategyError) as info:
    strategy_lib.build_strategy(plan)
  assert '\n' not in str(info.value)
  return str(info.value), time.monotonic() - started


@pytest.mark.slow  # waits out a timeout on purpose
def test_tpu_that_never_answers_fails_within_its_timeout(silent_port):
  address = f'grpc://127.0.0.1:{silent_port}'
  message, took = _build_failure(strategy_lib.StrategyPlan('tpu', tpu=address, tpu_timeout_s=1))
  assert message == (
    f'TPU {address} did not answer within 1 s (is the TPU up and reachable from here?)'
  )
  assert 0.9 < took < 5


def test_tpu_on_a_closed_port_fails_at_once():
  address = f'grpc://127.0.0.1:{_closed_port()}'
  message, took = _build_failure(strategy_lib.StrategyPlan('tpu', tpu=address, tpu_timeout_s=30))
  assert message == f'TPU {address} refused the connection (is the TPU up and reachable from here?)'
  assert took < 5


@pytest.mark.slow  # waits out a timeout on purpose
def test_cloud_tpu_name_lookup_is_bounded(silent_port, monkeypatch):
  """A TPU name is resolved through the GCE metadata server, which the client reads with no
  timeout of its own: here one that accepts and never answers."""
  monkeypatch.setenv('GCE_METADATA_HOST', f'127.0.0.1:{silent_port}')
  message, took = _build_failure(strategy_lib.StrategyPlan('tpu', tpu='my-tpu', tpu_timeout_s=1))
  assert message == (
    'TPU my-tpu was not resolved within 1 s (the GCE metadata server or the Cloud '
    'TPU API did not answer; outside GCP pass --tpu grpc://HOST:PORT)'
  )
  assert 0.9 < took < 5


def test_cloud_tpu_name_outside_gcp_fails_at_once(monkeypatch):
  monkeypatch.setenv('GCE_METADATA_HOST', f'127.0.0.1:{_closed_port()}')
  message, took = _build_failure(strategy_lib.StrategyPlan('tpu', tpu='my-tpu', tpu_timeout_s=30))
  assert message.startswith(
    'TPU my-tpu could not be resolved: the GCE metadata server did not answer ('
  )
  assert message.endswith('); outside GCP pass --tpu grpc://HOST:PORT') and took < 5


@pytest.mark.slow  # waits out a timeout on purpose
def test_tpu_initialisation_has_a_deadline_too(grpc_port, monkeypatch):
  """A TPU that speaks gRPC but never finishes initialising: bounded by 10x the timeout."""
  release = threading.Event()
  monkeypatch.setattr(tf.config, 'experimental_connect_to_cluster', lambda *a, **k: None)
  monkeypatch.setattr(tf.tpu.experimental, 'initialize_tpu_system', lambda *a: release.wait(30))
  address = f'grpc://127.0.0.1:{grpc_port}'
  try:
    message, took = _build_failure(strategy_lib.StrategyPlan('tpu', tpu=address, tpu_timeout_s=0.1))
  finally:
    release.set()
  assert message == (
    f'TPU {address} answered but was not connected and initialised within 1 s '
    '(is it busy, restarting or still starting up?)'
  )
  assert 0.9 < took < 5


@pytest.mark.slow  # a child process that imports TensorFlow: seconds
def test_tensorflow_server_without_tpus_fails_with_one_line():
  """The real connect-and-initialise path, against a TensorFlow gRPC server with no TPU.

  In a child process: connecting changes the process's TensorFlow context for good."""
  script = textwrap.dedent("""
      import tensorflow as tf
      from trainer_module import strategy as s
      server = tf.distribute.Server.create_local_server()
      try:
        s.build_strategy(s.StrategyPlan('tpu', tpu=server.target, tpu_timeout_s=10))
      except s.StrategyError as e:
        print('StrategyError:', e)
      """)
  repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  proc = subprocess.run(
    [sys.executable, '-c', script],
    cwd=repo,
    capture_output=True,
    text=True,
    timeout=120,
    env={**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '3'},
  )
  lines = [line for line in proc.stdout.splitlines() if line.startswith('StrategyError:')]
  assert proc.returncode == 0 and len(lines) == 1, proc.stdout + proc.stderr[-3000:]
  assert lines[0].startswith('StrategyError: TPU grpc://localhost:')
  assert 'could not be initialised: TPUs not found' in lines[0]


class _FakeReplicas:
  """Only the replica count of a strategy, as an 8-core TPU would report it."""

  num_replicas_in_sync = 8


def test_tpu_batch_must_split_over_replicas():
  plan = strategy_lib.StrategyPlan('tpu', tpu='x')
  assert strategy_lib.global_batch_size(1024, _FakeReplicas(), plan) == 1024
  with pytest.raises(strategy_lib.StrategyError, match='not divisible by the 8 TPU replicas'):
    strategy_lib.global_batch_size(100, _FakeReplicas(), plan)


def _write_records(path, n):
  with tf.io.TFRecordWriter(path, options='GZIP') as writer:
    for i in range(n):
      image = np.full((28, 28), i % 256, np.uint8)
      writer.write(
        tf.train.Example(
          features=tf.train.Features(
            feature={
              'image': tf.train.Feature(bytes_list=tf.train.BytesList(value=[image.tobytes()])),
              'label': tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 10])),
            }
          )
        ).SerializeToString()
      )


def test_static_shape_input_pipeline(tmp_path):
  path = str(tmp_path / 'data.gz')
  _write_records(path, 70)
  static = data.make_dataset(path, 32, shuffle=True, drop_remainder=True)
  assert static.element_spec[0].shape.as_list() == [32, 28, 28]
  assert static.element_spec[1].shape.as_list() == [32]
  assert [int(x.shape[0]) for x, _ in static] == [32, 32]
  dynamic = data.make_dataset(path, 32, shuffle=False)
  assert dynamic.element_spec[0].shape.as_list() == [None, 28, 28]
  batches = list(dynamic)
  assert [int(x.shape[0]) for x, _ in batches] == [32, 32, 6]
  images, labels = batches[0]
  assert images.dtype == tf.float32 and float(images[3, 0, 0]) == pytest.approx(3 / 255)
  assert labels.dtype == tf.int64 and list(labels[:3].numpy()) == [0, 1, 2]
