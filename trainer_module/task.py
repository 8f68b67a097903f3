"""TFX Trainer entry point: `run_fn` (referenced by import path, so no wheel is built at run time)."""
import json
import os
import sys

import keras
import tensorflow as tf

from trainer_module import data
from trainer_module import export
from trainer_module import strategy as strategy_lib
from trainer_module.config import TrainingConfig
from trainer_module.model import build_model

HISTORY_FILE = 'history.json'


def _learning_rate(config: TrainingConfig, steps_per_epoch: int):
  decay_steps = max(1, config.epochs * steps_per_epoch)
  return keras.optimizers.schedules.CosineDecay(
      config.learning_rate, decay_steps, alpha=config.final_learning_rate_fraction)


def _count(ds: tf.data.Dataset) -> int:
  return int(ds.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))


def train_and_export(config: TrainingConfig, train_files, eval_files, serving_model_dir: str,
                     model_run_dir: str, verbose=None) -> dict:
  """Trains the seed CNN on the given TFRecords and writes the serving SavedModel."""
  plan = strategy_lib.plan_strategy(config)
  strategy = strategy_lib.build_strategy(plan)
  batch_size = strategy_lib.global_batch_size(config.batch_size, strategy, plan)

  train_ds = data.make_dataset(train_files, batch_size, shuffle=True,
                               drop_remainder=plan.static_shapes, seed=config.shuffle_seed)
  eval_ds = data.make_dataset(eval_files, batch_size, shuffle=False,
                              drop_remainder=plan.static_shapes)
  steps_per_epoch = _count(train_ds)
  if steps_per_epoch == 0:
    raise ValueError(f'no full training batch of {batch_size} examples in {train_files}')
  # Known sizes let Keras show real progress bars and end epochs without warnings.
  train_ds = train_ds.apply(tf.data.experimental.assert_cardinality(steps_per_epoch))
  eval_ds = eval_ds.apply(tf.data.experimental.assert_cardinality(_count(eval_ds)))

  with strategy.scope():
    model = build_model()
    model.compile(
        optimizer=keras.optimizers.Adam(_learning_rate(config, steps_per_epoch)),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name='accuracy')])

  if verbose is None:
    verbose = 1 if sys.stdout.isatty() else 2
  history = model.fit(
      train_ds, epochs=config.epochs, validation_data=eval_ds, verbose=verbose,
      callbacks=[keras.callbacks.TensorBoard(log_dir=model_run_dir, update_freq='epoch')])

  export.export_serving_model(model, serving_model_dir)
  record = {k: [float(v) for v in values] for k, values in history.history.items()}
  tf.io.gfile.makedirs(model_run_dir)
  with tf.io.gfile.GFile(os.path.join(model_run_dir, HISTORY_FILE), 'w') as f:
    json.dump(record, f)
  return record


def run_fn(fn_args) -> None:
  """TFX Trainer hook: hyperparameters arrive in fn_args.custom_config (a TrainingConfig)."""
  config = TrainingConfig.from_custom_config(fn_args.custom_config)
  train_and_export(config, fn_args.train_files, fn_args.eval_files,
                   fn_args.serving_model_dir, fn_args.model_run_dir)
