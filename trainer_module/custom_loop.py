"""--training-loop custom: the seed's eager variant (mnist_eager.py) as a custom training loop.

A GradientTape step inside `tf.function`, one compiled function per epoch that runs every step
under the distribution strategy (`strategy.run` over `experimental_distribute_dataset`, the
per-replica sums brought together with `strategy.reduce`), so it works under every strategy the
Trainer builds: default, mirrored, multi_worker and TPU. It does what `Model.fit` does for this
model, so either loop leaves the same kind of model, history and logs:

- the loss: the mean over each replica's batch, divided by the number of replicas (as Keras
  scales it), gradients summed over replicas by the optimizer; under mixed_float16 the optimizer
  is a LossScaleOptimizer and the loss is scaled for the tape as fit scales it;
- the metrics: `loss` and `accuracy` over the epoch's training examples (as seen during the
  epoch, dropout on), `val_loss` and `val_accuracy` over the validation split (dropout off),
  under the keys `fit` writes to history.json;
- TensorBoard: what keras.callbacks.TensorBoard(update_freq='epoch') writes, in the same folders
  under the log dir and with the same tags: `epoch_loss`, `epoch_accuracy` and
  `epoch_learning_rate` per epoch in `train/`; `epoch_loss`, `epoch_accuracy` and
  `evaluation_{loss,accuracy}_vs_iterations` in `validation/`. Not the model graph (`keras`).
"""

import os
import sys
import time
from typing import Dict, List, Optional

import keras
import tensorflow as tf

_LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)


def _sums(per_example_loss, logits, labels):
  """(loss sum, correct predictions, examples) of one replica's batch, as float32."""
  correct = tf.equal(tf.argmax(logits, axis=1, output_type=tf.int64), tf.cast(labels, tf.int64))
  return (
    tf.reduce_sum(tf.cast(per_example_loss, tf.float32)),
    tf.reduce_sum(tf.cast(correct, tf.float32)),
    tf.cast(tf.size(labels), tf.float32),
  )


class CustomLoop:
  """Trains `model` with `optimizer` under `strategy`; both must be made in strategy.scope()."""

  def __init__(
    self,
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    strategy: tf.distribute.Strategy,
  ):
    self.model, self.optimizer, self.strategy = model, optimizer, strategy
    with strategy.scope():
      # Created here, not lazily in the first step: variables cannot be made inside strategy.run.
      optimizer.build(model.trainable_variables)
    self._train_epoch = tf.function(self._epoch_fn(self._train_step))
    self._eval_epoch = tf.function(self._epoch_fn(self._eval_step))

  def _train_step(self, images, labels):
    replicas = self.strategy.num_replicas_in_sync
    with tf.GradientTape() as tape:
      logits = self.model(images, training=True)
      per_example = _LOSS(labels, logits)
      # The batch mean (0 for the empty batch a worker may get at the end of an uneven epoch),
      # scaled for the replicas as keras.losses.scale_loss_for_distribution does.
      loss = (
        tf.math.divide_no_nan(
          tf.reduce_sum(per_example), tf.cast(tf.size(per_example), per_example.dtype)
        )
        / replicas
      )
      scaled = self.optimizer.scale_loss(loss)  # LossScaleOptimizer under mixed_float16, else as is
    gradients = tape.gradient(scaled, self.model.trainable_variables)
    # In tf.function: AutoGraph's zip takes no strict=; both lists come from the same variables.
    self.optimizer.apply_gradients(zip(gradients, self.model.trainable_variables))  # noqa: B905
    return _sums(per_example, logits, labels)

  def _eval_step(self, images, labels):
    logits = self.model(images, training=False)
    return _sums(_LOSS(labels, logits), logits, labels)

  def _epoch_fn(self, step):
    strategy = self.strategy

    def epoch(dataset):
      totals = tf.zeros([3], tf.float32)
      for images, labels in dataset:  # autograph: a loop in the graph, ends with the data
        per_replica = strategy.run(step, args=(images, labels))
        totals += tf.stack(
          [strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None) for value in per_replica]
        )
      return totals

    return epoch

  def fit(
    self,
    train_ds: tf.data.Dataset,
    epochs: int,
    validation_data: Optional[tf.data.Dataset],
    log_dir: Optional[str],
    verbose: int = 2,
    steps_per_epoch: Optional[int] = None,
  ) -> Dict[str, List[float]]:
    """Trains for `epochs` passes over train_ds; returns the history as Model.fit's .history."""
    distribute = self.strategy.experimental_distribute_dataset
    train = distribute(train_ds)
    validation = distribute(validation_data) if validation_data is not None else None
    writers = {}
    if log_dir:
      writers = {
        name: tf.summary.create_file_writer(os.path.join(log_dir, name))
        for name in ('train', 'validation')
        if name == 'train' or validation is not None
      }
    history: Dict[str, List[float]] = {}
    for epoch in range(epochs):
      started = time.monotonic()
      logs = dict(zip(('loss', 'accuracy'), self._averages(self._train_epoch(train)), strict=True))
      if validation is not None:
        averages = self._averages(self._eval_epoch(validation))
        logs.update(zip(('val_loss', 'val_accuracy'), averages, strict=True))
      for key, value in logs.items():
        history.setdefault(key, []).append(value)
      if writers:
        self._write_summaries(writers, logs, epoch)
      if verbose:
        seconds = time.monotonic() - started
        steps = f'{steps_per_epoch}/{steps_per_epoch} - ' if steps_per_epoch else ''
        print(
          f'Epoch {epoch + 1}/{epochs}\n{steps}{seconds:.0f}s - '
          + ' - '.join(f'{k}: {logs[k]:.4f}' for k in sorted(logs)),
          flush=True,
          file=sys.stdout,
        )
    for writer in writers.values():
      writer.close()
    return history

  def _write_summaries(self, writers, logs, epoch):
    """What keras.callbacks.TensorBoard(update_freq='epoch') writes, less the model graph."""
    iterations = int(self.optimizer.iterations.numpy())
    with writers['train'].as_default():
      for metric in ('loss', 'accuracy'):
        tf.summary.scalar(f'epoch_{metric}', logs[metric], step=epoch)
      tf.summary.scalar('epoch_learning_rate', float(self.optimizer.learning_rate), step=epoch)
    if 'val_loss' in logs:
      with writers['validation'].as_default():
        for metric in ('loss', 'accuracy'):
          tf.summary.scalar(f'epoch_{metric}', logs[f'val_{metric}'], step=epoch)
          tf.summary.scalar(
            f'evaluation_{metric}_vs_iterations', logs[f'val_{metric}'], step=iterations
          )
    for writer in writers.values():
      writer.flush()

  @staticmethod
  def _averages(totals):
    loss_sum, correct, count = (float(x) for x in totals.numpy())
    if not count:
      raise ValueError('an epoch saw no examples')
    return loss_sum / count, correct / count
