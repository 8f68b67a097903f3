"""Strategy selection (no TPU or second worker here) and the static-shape input pipeline."""
import json

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
  config = TrainingConfig(strategy='multi_worker')
  with pytest.raises(strategy_lib.StrategyError, match='needs TF_CONFIG'):
    strategy_lib.plan_strategy(config, env={})
  with pytest.raises(strategy_lib.StrategyError, match='not a valid cluster spec'):
    strategy_lib.plan_strategy(config, env={'TF_CONFIG': '{"task": {}}'})
  tf_config = {'cluster': {'worker': ['localhost:12345']}, 'task': {'type': 'worker', 'index': 0}}
  plan = strategy_lib.plan_strategy(config, env={'TF_CONFIG': json.dumps(tf_config)})
  assert plan.kind == 'multi_worker'


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
      writer.write(tf.train.Example(features=tf.train.Features(feature={
          'image': tf.train.Feature(bytes_list=tf.train.BytesList(value=[image.tobytes()])),
          'label': tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 10])),
      })).SerializeToString())


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
