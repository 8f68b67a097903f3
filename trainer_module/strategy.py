"""Distribution strategy by config, as the seed's mnist.py (GPUs) and mnist_tpu.py (TPU) did."""
import dataclasses
import json
import os
from typing import Mapping, Optional

import tensorflow as tf

from trainer_module.config import TrainingConfig


class StrategyError(ValueError):
  """The requested strategy cannot be set up here; the message says why."""


@dataclasses.dataclass(frozen=True)
class StrategyPlan:
  kind: str  # default | mirrored | multi_worker | tpu
  tpu: Optional[str] = None

  @property
  def static_shapes(self) -> bool:
    """TPUs compile for fixed shapes: every batch must be full."""
    return self.kind == 'tpu'


def plan_strategy(config: TrainingConfig, env: Optional[Mapping[str, str]] = None) -> StrategyPlan:
  """Decides which strategy to build, without touching any device."""
  env = os.environ if env is None else env
  if config.tpu:
    return StrategyPlan('tpu', tpu=config.tpu)
  if config.strategy == 'multi_worker':
    raw = env.get('TF_CONFIG')
    if not raw:
      raise StrategyError('--strategy multi_worker needs TF_CONFIG describing the cluster '
                          '(set by Kubeflow/TFJob, or by hand)')
    try:
      tf_config = json.loads(raw)
      tf_config['cluster']['worker']
    except (ValueError, KeyError, TypeError) as e:
      raise StrategyError(f'TF_CONFIG is not a valid cluster spec with workers ({e!r})') from None
  return StrategyPlan(config.strategy)


def build_strategy(plan: StrategyPlan) -> tf.distribute.Strategy:
  if plan.kind == 'tpu':
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=plan.tpu)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)
  if plan.kind == 'mirrored':
    return tf.distribute.MirroredStrategy()
  if plan.kind == 'multi_worker':
    return tf.distribute.MultiWorkerMirroredStrategy()
  return tf.distribute.get_strategy()


def global_batch_size(per_step_batch: int, strategy: tf.distribute.Strategy, plan: StrategyPlan) -> int:
  """--batch-size is the global batch; TPUs need it to split evenly over the replicas."""
  replicas = strategy.num_replicas_in_sync
  if plan.static_shapes and per_step_batch % replicas:
    raise StrategyError(f'batch size {per_step_batch} is not divisible by the {replicas} TPU replicas')
  return per_step_batch
