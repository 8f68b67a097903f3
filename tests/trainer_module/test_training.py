"""The Trainer on real MNIST examples: the validation split it keeps out of `train`, and the two
training loops (Model.fit and the custom loop) leaving the same kind of history, TensorBoard logs
and export."""

import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.util import event_pb2

from trainer_module import data, task
from trainer_module.config import TrainingConfig


def _labels(ds):
  return np.concatenate([labels.numpy() for _, labels in ds])


def test_validation_split_is_the_end_of_train_and_disjoint_from_training(
  small_train_records, mnist_dir
):
  from components.lib import idx

  expected = idx.load_split(mnist_dir, 'train').labels[:1200]
  assert data.count_records(small_train_records) == 1200
  held_out = TrainingConfig(validation_examples=200).validation_split(1200)
  training = data.make_dataset(small_train_records, 64, shuffle=False, take=1200 - held_out)
  validation = data.make_dataset(small_train_records, 64, shuffle=False, skip=1200 - held_out)
  np.testing.assert_array_equal(_labels(training), expected[:1000])
  np.testing.assert_array_equal(_labels(validation), expected[1000:])
  # Shuffling reorders the training examples, never mixes in validation ones.
  shuffled = data.make_dataset(small_train_records, 64, shuffle=True, seed=5, take=1000)
  assert sorted(_labels(shuffled)) == sorted(expected[:1000])


def test_a_validation_split_as_large_as_train_is_refused_before_training(
  small_train_records, tmp_path
):
  config = TrainingConfig(epochs=1, validation_examples=1200)
  with pytest.raises(
    ValueError,
    match=r'--validation-examples 1200 must be less than the number '
    r'of training examples \(1200\)',
  ):
    task.train_and_export(
      config, small_train_records, None, str(tmp_path / 'model'), str(tmp_path / 'run')
    )
  assert not os.path.exists(tmp_path / 'model') and not os.path.exists(tmp_path / 'run')


def _tags(run_dir):
  tags = {}
  for path in glob.glob(os.path.join(run_dir, '*', 'events.out.tfevents.*')):
    for record in tf.data.TFRecordDataset(path):
      event = event_pb2.Event.FromString(record.numpy())
      tags.setdefault(os.path.basename(os.path.dirname(path)), set()).update(
        v.tag for v in event.summary.value
      )
  return tags


@pytest.fixture(scope='module')
def trained(small_train_records, tmp_path_factory):
  """One epoch of each loop on the same 1,000 examples (200 held out), from the same seeds."""
  import keras

  runs = {}
  for loop in ('fit', 'custom'):
    out = tmp_path_factory.mktemp(loop)
    keras.utils.set_random_seed(11)
    config = TrainingConfig(
      epochs=1, batch_size=64, training_loop=loop, seed=11, validation_examples=200
    )
    history = task.train_and_export(
      config, small_train_records, None, str(out / 'model'), str(out / 'run'), verbose=0
    )
    runs[loop] = (history, out)
  return runs


@pytest.mark.slow  # two short trainings and exports (about 20 s)
def test_both_loops_write_the_same_history_keys_logs_and_export(trained):
  (fit_history, fit_out), (custom_history, custom_out) = trained['fit'], trained['custom']
  assert set(fit_history) == set(custom_history) == {'loss', 'accuracy', 'val_loss', 'val_accuracy'}
  for out, history in ((fit_out, fit_history), (custom_out, custom_history)):
    assert json.loads((out / 'run' / 'history.json').read_text()) == history
    assert all(len(values) == 1 for values in history.values())
    assert history['val_accuracy'][0] > 0.6
    model = tf.saved_model.load(str(out / 'model'))
    assert set(model.signatures) == {'classify', 'serving_default'}
  fit_tags, custom_tags = _tags(fit_out / 'run'), _tags(custom_out / 'run')
  assert (
    fit_tags['train'] - {'keras'}
    == custom_tags['train']
    == {'epoch_loss', 'epoch_accuracy', 'epoch_learning_rate'}
  )
  assert fit_tags['validation'] == custom_tags['validation']
  # Same data, same seeds, same model: one epoch of either loop learns about as much.
  assert abs(fit_history['val_accuracy'][0] - custom_history['val_accuracy'][0]) < 0.05


@pytest.mark.slow  # trains two short runs
@pytest.mark.parametrize('strategy', ['default', 'mirrored'])
def test_custom_loop_under_local_strategies_without_validation(
  small_train_records, tmp_path, strategy
):
  config = TrainingConfig(
    epochs=2, batch_size=100, training_loop='custom', strategy=strategy, validation_examples=0
  )
  model, history, used = task.train(config, small_train_records, str(tmp_path / 'run'), verbose=0)
  assert set(history) == {'loss', 'accuracy'} and len(history['loss']) == 2
  assert history['loss'][1] < history['loss'][0]
  assert used.num_replicas_in_sync == 1 and not getattr(model, 'optimizer', None)  # never compiled
  assert sorted(os.listdir(tmp_path / 'run')) == ['train']  # no validation logs without validation


@pytest.mark.slow  # a child process that imports TensorFlow and trains
def test_task_command_trains_and_exports(small_train_records, tmp_path):
  """`python -m trainer_module.task`: what each replica of a TFJob or Vertex custom job runs."""
  import subprocess
  import sys

  from tests.conftest import REPO

  result = subprocess.run(
    [
      sys.executable,
      '-m',
      'trainer_module.task',
      '--train-files',
      small_train_records,
      '--serving-model-dir',
      str(tmp_path / 'model'),
      '--model-run-dir',
      str(tmp_path / 'run'),
      '--config',
      '{"epochs": 1, "training_loop": "custom", "validation_examples": 100}',
    ],
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=300,
    check=False,
  )
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'Epoch 1/1' in result.stdout and 'val_accuracy' in result.stdout
  assert (tmp_path / 'model' / 'saved_model.pb').exists()
  assert set(json.loads((tmp_path / 'run' / 'history.json').read_text())) == {
    'loss',
    'accuracy',
    'val_loss',
    'val_accuracy',
  }
  bad = subprocess.run(
    [
      sys.executable,
      '-m',
      'trainer_module.task',
      '--train-files',
      'x',
      '--serving-model-dir',
      'm',
      '--model-run-dir',
      'r',
      '--config',
      '{"training_loop": "eager"}',
    ],
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=300,
    check=False,
  )
  assert bad.returncode == 2 and "unknown training loop 'eager'" in bad.stderr
