"""TFX Trainer entry point: `run_fn` (referenced by import path, so no wheel is built at run time).

Also a command, for running the same training outside a pipeline task, e.g. in each replica of a
TFJob or a Vertex AI custom job (every replica runs it; TF_CONFIG says which one it is):

    python -m trainer_module.task --train-files 'ROOT/MnistExampleGen/examples/N/Split-train/*' \
        --serving-model-dir DIR --model-run-dir DIR \
        --config '{"strategy": "multi_worker", "training_loop": "custom", "epochs": 12}'

What the Trainer reads: the `train` split only. Its end (TrainingConfig.validation_split: by
default the last 5,000 of MNIST's 60,000) is held out for the per-epoch validation
(`val_loss`/`val_accuracy`); the rest is trained on. The `eval` split (MNIST's test set, in
fn_args.eval_files) is not read here: it is left to the Evaluator's gate.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
from typing import Dict, List, Optional, Sequence, Tuple

import keras
import tensorflow as tf
from absl import logging

from trainer_module import augment, data, export
from trainer_module import precision as precision_lib
from trainer_module import strategy as strategy_lib
from trainer_module.config import TRAINING_PLAN_LOG, TrainingConfig
from trainer_module.custom_loop import CustomLoop
from trainer_module.features import CLASS_NAMES_CONFIG, HISTORY_FILE, NUM_CLASSES
from trainer_module.model import build_model


def _learning_rate(config: TrainingConfig, steps_per_epoch: int):
  decay_steps = max(1, config.epochs * steps_per_epoch)
  return keras.optimizers.schedules.CosineDecay(
    config.learning_rate, decay_steps, alpha=config.final_learning_rate_fraction
  )


def _steps(examples: int, batch_size: int, drop_remainder: bool) -> int:
  return examples // batch_size if drop_remainder else -(-examples // batch_size)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  """The one worker that writes the outputs: the `chief` task, else worker 0; any single host."""
  resolver = getattr(strategy, 'cluster_resolver', None)
  if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
    return True
  task_type, task_id = resolver.task_type, resolver.task_id
  if task_type is None or task_type == 'chief':
    return True
  return task_type == 'worker' and task_id == 0 and 'chief' not in resolver.cluster_spec().as_dict()


def train(
  config: TrainingConfig,
  train_files,
  model_run_dir: Optional[str],
  verbose=None,
  num_classes: int = NUM_CLASSES,
) -> Tuple[keras.Model, Dict[str, List[float]], tf.distribute.Strategy]:
  """Trains the seed CNN on the `train` TFRecords, its last examples held out for validation;
  the model has a logit for each of `num_classes` classes.

  Returns the model, the history (Model.fit's .history keys, whichever loop ran) and the
  strategy. TensorBoard logs go to model_run_dir (on the chief; other workers' to a temp dir)."""
  if config.seed is not None:
    keras.utils.set_random_seed(
      config.seed
    )  # weights and dropout; shuffling and augmentation below
  plan = strategy_lib.plan_strategy(config)
  strategy = strategy_lib.build_strategy(plan)
  batch_size = strategy_lib.global_batch_size(config.batch_size, strategy, plan)
  policy = precision_lib.detect(config.precision, tpu=plan.kind == 'tpu')
  total = data.count_records(train_files)
  held_out = config.validation_split(total)
  fitted = total - held_out
  logging.info(TRAINING_PLAN_LOG, config.describe(policy, fitted, held_out))
  steps_per_epoch = _steps(fitted, batch_size, plan.static_shapes)
  if steps_per_epoch == 0:
    raise ValueError(
      f'no full training batch of {batch_size} examples in the {fitted} training '
      f'examples of {train_files}'
    )
  train_ds = data.make_dataset(
    train_files,
    batch_size,
    shuffle=True,
    drop_remainder=plan.static_shapes,
    seed=config.seed,
    take=fitted,
  )
  augmentation = augment.Augmentation(
    config.augment_rotation, config.augment_zoom, config.augment_shift, config.augment_flip
  )
  if augmentation.enabled:
    train_ds = augment.augment_dataset(train_ds, augmentation, seed=config.seed)
  # Known sizes let Keras show real progress bars and end epochs without warnings.
  train_ds = train_ds.apply(tf.data.experimental.assert_cardinality(steps_per_epoch))
  validation_ds = None
  if held_out:
    validation_steps = _steps(held_out, batch_size, plan.static_shapes)
    if validation_steps == 0:
      raise ValueError(
        f'the {held_out} validation examples make no full batch of {batch_size} '
        '(TPU shapes are static): pass --validation-examples 0 or a larger number'
      )
    validation_ds = data.make_dataset(
      train_files, batch_size, shuffle=False, drop_remainder=plan.static_shapes, skip=fitted
    )
    validation_ds = validation_ds.apply(tf.data.experimental.assert_cardinality(validation_steps))

  with strategy.scope():
    model = build_model(policy, num_classes)
    optimizer = keras.optimizers.Adam(_learning_rate(config, steps_per_epoch))
    if policy == precision_lib.MIXED_FLOAT16:
      optimizer = keras.optimizers.LossScaleOptimizer(optimizer)  # float16 gradients underflow

  if verbose is None:
    verbose = 1 if sys.stdout.isatty() else 2
  chief = is_chief(strategy)
  log_dir = model_run_dir if chief else tempfile.mkdtemp(prefix='mnist-worker-logs-')
  try:
    if config.training_loop == 'custom':
      history = CustomLoop(model, optimizer, strategy).fit(
        train_ds,
        config.epochs,
        validation_ds,
        log_dir,
        verbose=verbose if chief else 0,
        steps_per_epoch=steps_per_epoch,
      )
    else:
      with strategy.scope():
        model.compile(
          optimizer=optimizer,
          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
          metrics=[keras.metrics.SparseCategoricalAccuracy(name='accuracy')],
        )
      callbacks = (
        [keras.callbacks.TensorBoard(log_dir=log_dir, update_freq='epoch')] if log_dir else []
      )
      # One iterator for the whole run (repeat + steps_per_epoch: Keras keeps its iterator across
      # epochs then). A new one per epoch made the main thread wait in the old one's destructor
      # for tf.data's autotune thread: idle stalls of 1-11 s at epoch boundaries, 0 CPU.
      history = model.fit(
        train_ds.repeat(),
        epochs=config.epochs,
        steps_per_epoch=steps_per_epoch,
        validation_data=None if validation_ds is None else validation_ds.repeat(),
        validation_steps=None if validation_ds is None else validation_steps,
        verbose=verbose,
        callbacks=callbacks,
      ).history
  finally:
    if not chief and log_dir:
      shutil.rmtree(log_dir, ignore_errors=True)
  return model, {k: [float(v) for v in values] for k, values in history.items()}, strategy


def save_outputs(
  model: keras.Model,
  history: Dict[str, List[float]],
  strategy: tf.distribute.Strategy,
  serving_model_dir: str,
  model_run_dir: str,
  polarity: bool = True,
  class_names: Optional[Sequence[str]] = None,
) -> None:
  """The serving SavedModel (export.py: `class_names` answered by name) and history.json,
  written by the chief.

  Every worker of a multi-worker run exports (saving may need all of them), the others into a
  temporary folder that is then removed, as TensorFlow's multi-worker guide does."""
  if not is_chief(strategy):
    scratch = tempfile.mkdtemp(prefix='mnist-worker-export-')
    try:
      export.export_serving_model(model, os.path.join(scratch, 'model'), polarity, class_names)
    finally:
      shutil.rmtree(scratch, ignore_errors=True)
    return
  export.export_serving_model(model, serving_model_dir, polarity, class_names)
  tf.io.gfile.makedirs(model_run_dir)
  with tf.io.gfile.GFile(os.path.join(model_run_dir, HISTORY_FILE), 'w') as f:
    json.dump(history, f)


def train_and_export(
  config: TrainingConfig,
  train_files,
  eval_files,
  serving_model_dir: str,
  model_run_dir: str,
  verbose=None,
  class_names: Optional[Sequence[str]] = None,
) -> dict:
  """Trains the seed CNN on the `train` TFRecords and writes the serving SavedModel: 10 classes
  (the digits' count, unnamed in the model) or, given `class_names`, one for each, by name.

  eval_files (the Evaluator's split) is accepted for the Trainer's calling convention and not
  read: validation comes out of train_files."""
  del eval_files
  num_classes = len(class_names) if class_names else NUM_CLASSES
  model, history, strategy = train(config, train_files, model_run_dir, verbose, num_classes)
  save_outputs(
    model,
    history,
    strategy,
    serving_model_dir,
    model_run_dir,
    config.normalize_polarity,
    class_names,
  )
  return history


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
    description='Train the seed CNN on the train split and export it.'
  )
  parser.add_argument(
    '--train-files',
    required=True,
    action='append',
    help="file pattern of the train split's GZIP TFRecords (repeatable)",
  )
  parser.add_argument('--serving-model-dir', required=True)
  parser.add_argument('--model-run-dir', required=True)
  parser.add_argument(
    '--config',
    default='{}',
    help=f'TrainingConfig fields as JSON, and {CLASS_NAMES_CONFIG!r} for named classes',
  )
  args = parser.parse_args(argv)
  try:
    values = json.loads(args.config)
    config = TrainingConfig.from_custom_config(values)
    class_names = values.get(CLASS_NAMES_CONFIG)
  except (ValueError, TypeError, AttributeError) as e:
    parser.error(f'--config: {e}')
  train_and_export(
    config,
    args.train_files,
    None,
    args.serving_model_dir,
    args.model_run_dir,
    class_names=[str(n) for n in class_names] if class_names else None,
  )
  return 0


def run_fn(fn_args) -> None:
  """TFX Trainer hook: hyperparameters arrive in fn_args.custom_config (a TrainingConfig), and,
  for a data set whose classes come from the data, its class names (CLASS_NAMES_CONFIG)."""
  config = TrainingConfig.from_custom_config(fn_args.custom_config)
  class_names = (fn_args.custom_config or {}).get(CLASS_NAMES_CONFIG)
  train_and_export(
    config,
    fn_args.train_files,
    fn_args.eval_files,
    fn_args.serving_model_dir,
    fn_args.model_run_dir,
    class_names=[str(n) for n in class_names] if class_names else None,
  )


if __name__ == '__main__':
  sys.exit(main())
