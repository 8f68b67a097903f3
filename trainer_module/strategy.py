"""Distribution strategy by config, as the seed's mnist.py (GPUs) and mnist_tpu.py (TPU) did."""

import dataclasses
import functools
import json
import os
import socket
import threading
import time
import urllib.error
from typing import Callable, Mapping, Optional, TypeVar

import tensorflow as tf

from trainer_module.config import TrainingConfig

# How long a TPU may take to answer: resolving a Cloud TPU name, then each worker's gRPC port.
# Connecting and initialising the TPU system, once it answers, may take TPU_INIT_FACTOR times as
# long (a large pod takes minutes). $MNIST_TPU_TIMEOUT (seconds) replaces the default.
DEFAULT_TPU_TIMEOUT_S = 60.0
TPU_TIMEOUT_ENV = 'MNIST_TPU_TIMEOUT'
TPU_INIT_FACTOR = 10
_REACHABLE_HINT = 'is the TPU up and reachable from here?'

T = TypeVar('T')


class StrategyError(ValueError):
  """The requested strategy cannot be set up here; the message says why."""


@dataclasses.dataclass(frozen=True)
class StrategyPlan:
  kind: str  # default | mirrored | multi_worker | tpu
  tpu: Optional[str] = None
  tpu_timeout_s: float = DEFAULT_TPU_TIMEOUT_S

  @property
  def static_shapes(self) -> bool:
    """TPUs compile for fixed shapes: every batch must be full."""
    return self.kind == 'tpu'


def _tpu_timeout(env: Mapping[str, str]) -> float:
  raw = env.get(TPU_TIMEOUT_ENV)
  if not raw:
    return DEFAULT_TPU_TIMEOUT_S
  try:
    seconds = float(raw)
  except ValueError:
    seconds = 0.0
  if not 0 < seconds < float('inf'):
    raise StrategyError(f'{TPU_TIMEOUT_ENV}={raw!r} is not a positive number of seconds')
  return seconds


def plan_strategy(config: TrainingConfig, env: Optional[Mapping[str, str]] = None) -> StrategyPlan:
  """Decides which strategy to build, without touching any device."""
  env = os.environ if env is None else env
  if config.tpu:
    return StrategyPlan('tpu', tpu=config.tpu, tpu_timeout_s=_tpu_timeout(env))
  if config.strategy == 'multi_worker':
    raw = env.get('TF_CONFIG')
    if not raw:
      raise StrategyError(
        '--strategy multi_worker needs TF_CONFIG describing the cluster '
        '(set by Kubeflow/TFJob, or by hand)'
      )
    try:
      tf_config = json.loads(raw)
      tf_config['cluster']['worker']
    except (ValueError, KeyError, TypeError) as e:
      raise StrategyError(f'TF_CONFIG is not a valid cluster spec with workers ({e!r})') from None
  return StrategyPlan(config.strategy)


def _first_line(error) -> str:
  text = str(error).strip()
  return text.splitlines()[0] if text else type(error).__name__


def _bounded(fn: Callable[[], T], seconds: float, on_timeout: str) -> T:
  """fn() in a daemon thread, waited for at most `seconds`; StrategyError(on_timeout) after that.

  What TensorFlow and the Cloud TPU client do to reach a TPU has no deadline of its own (gRPC
  waits for a TPU that never answers, the GCE metadata reads have no timeout). A call that runs
  over is left behind in its thread, which dies with the process."""
  outcome = {}

  def run():
    try:
      outcome['value'] = fn()
    except BaseException as e:  # noqa: BLE001  # re-raised in the caller
      outcome['error'] = e

  thread = threading.Thread(target=run, name='tpu-connect', daemon=True)
  thread.start()
  thread.join(seconds)
  if thread.is_alive():
    raise StrategyError(on_timeout)
  if 'error' in outcome:
    raise outcome['error']
  return outcome['value']


def _tcp_problem(host: str, port: int, seconds: float) -> Optional[str]:
  """Why a plain TCP connection to host:port fails (None if it opens), for the error message."""
  try:
    socket.create_connection((host, port), timeout=max(seconds, 0.01)).close()
    return None
  except ConnectionRefusedError:
    return 'refused the connection'
  except socket.timeout:
    return None  # no answer at all: reported as such when the wait runs out
  except OSError as e:
    return f'cannot be reached: {e.strerror or e}'


def _grew(items: list, seen: int) -> bool:
  return len(items) > seen


def wait_for_grpc(worker: str, seconds: float) -> Optional[str]:
  """Waits at most `seconds` for `worker` (HOST:PORT) to complete a gRPC (HTTP/2) handshake.

  None once it does; otherwise why not ('timeout' if nothing answered in time). A refused or
  unreachable port fails as soon as gRPC reports the failure, with the socket's reason."""
  import grpc  # deferred: only the TPU path needs it

  host, _, port = worker.rpartition(':')
  host = host.strip('[]')
  deadline = time.monotonic() + seconds
  changed = threading.Condition()
  states = []

  def on_state(state):
    with changed:
      states.append(state)
      changed.notify_all()

  channel = grpc.insecure_channel(worker)
  channel.subscribe(on_state, try_to_connect=True)
  try:
    seen = 0
    while True:
      with changed:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
          return 'timeout'
        changed.wait_for(functools.partial(_grew, states, seen), timeout=remaining)
        new, seen = states[seen:], len(states)
      if grpc.ChannelConnectivity.READY in new:
        return None
      if grpc.ChannelConnectivity.TRANSIENT_FAILURE in new and port.isdigit():
        # gRPC does not say why; ask the socket. If TCP connects, the port is open but has not
        # spoken gRPC yet (or gRPC goes through a proxy): keep waiting, gRPC retries by itself.
        problem = _tcp_problem(host, int(port), min(deadline - time.monotonic(), 5.0))
        if problem:
          return problem
  finally:
    channel.unsubscribe(on_state)
    channel.close()


def _seconds(value: float) -> str:
  return f'{round(value, 1):g} s'


def _connect_tpu(plan: StrategyPlan) -> tf.distribute.Strategy:
  """Resolves, checks, connects and initialises the TPU, each step with a deadline."""
  name, timeout = plan.tpu or '', plan.tpu_timeout_s
  is_address = name.startswith('grpc://')

  def resolve():
    # For a Cloud TPU name this asks the GCE metadata server (project, zone) and the Cloud TPU
    # API (the workers' addresses); a grpc:// address is only parsed.
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=name)
    workers = [] if name == 'local' else resolver.cluster_spec().job_tasks(resolver.get_job_name())
    return resolver, workers

  try:
    resolver, workers = _bounded(
      resolve,
      timeout,
      f'TPU {name} was not resolved within {_seconds(timeout)} (the GCE metadata server or the '
      f'Cloud TPU API did not answer; outside GCP pass --tpu grpc://HOST:PORT)',
    )
  except StrategyError:
    raise
  except urllib.error.URLError as e:  # only names go to the network here: the metadata server
    raise StrategyError(
      f'TPU {name} could not be resolved: the GCE metadata server did not '
      f'answer ({_first_line(e.reason)}); outside GCP pass --tpu grpc://HOST:PORT'
    ) from None
  except Exception as e:  # noqa: BLE001  # the client's errors are many and wordy
    raise StrategyError(f'TPU {name} could not be resolved: {_first_line(e)}') from None

  deadline = time.monotonic() + timeout
  for worker in workers:
    what = f'TPU {name}' if is_address and len(workers) == 1 else f'TPU {name} (worker {worker})'
    problem = wait_for_grpc(worker, max(deadline - time.monotonic(), 0.0))
    if problem == 'timeout':
      raise StrategyError(f'{what} did not answer within {_seconds(timeout)} ({_REACHABLE_HINT})')
    if problem:
      raise StrategyError(f'{what} {problem} ({_REACHABLE_HINT})')

  def connect_and_initialise():
    # The master-device scope that connect_to_cluster would enter is per thread: entered below,
    # in the caller's thread.
    tf.config.experimental_connect_to_cluster(resolver, make_master_device_default=False)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)

  init_timeout = TPU_INIT_FACTOR * timeout
  try:
    strategy = _bounded(
      connect_and_initialise,
      init_timeout,
      f'TPU {name} answered but was not connected and initialised within '
      f'{_seconds(init_timeout)} (is it busy, restarting or still starting up?)',
    )
  except StrategyError:
    raise
  except (tf.errors.OpError, RuntimeError, ValueError) as e:
    raise StrategyError(f'TPU {name} could not be initialised: {_first_line(e)}') from None
  if workers:
    # As experimental_connect_to_cluster(make_master_device_default=True) would have: ops outside
    # the strategy run on the first TPU worker's host.
    tf.device(f'/job:{resolver.get_job_name()}/replica:0/task:0/device:CPU:0').__enter__()
  return strategy


def build_strategy(plan: StrategyPlan) -> tf.distribute.Strategy:
  if plan.kind == 'tpu':
    return _connect_tpu(plan)
  if plan.kind == 'mirrored':
    return tf.distribute.MirroredStrategy()
  if plan.kind == 'multi_worker':
    return tf.distribute.MultiWorkerMirroredStrategy()
  return tf.distribute.get_strategy()


def global_batch_size(
  per_step_batch: int, strategy: tf.distribute.Strategy, plan: StrategyPlan
) -> int:
  """--batch-size is the global batch; TPUs need it to split evenly over the replicas."""
  replicas = strategy.num_replicas_in_sync
  if plan.static_shapes and per_step_batch % replicas:
    raise StrategyError(
      f'batch size {per_step_batch} is not divisible by the {replicas} TPU replicas'
    )
  return per_step_batch
