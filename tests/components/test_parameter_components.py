"""The pipeline parameters Kubeflow runs set (epochs, the accuracy bound): one exec property
each, checked in one place, folded into the executor's JSON config just before it runs."""

import json

import pytest
import tensorflow_model_analysis as tfma
from google.protobuf import json_format

from components import mnist_evaluator, mnist_trainer, parameters
from trainer_module.config import TrainingConfig


def _eval_config_json():
  return json_format.MessageToJson(mnist_evaluator.make_eval_config())


def test_the_eval_config_holds_no_bound_until_the_parameter_is_folded_in():
  props = {
    'eval_config': _eval_config_json(),
    'accuracy_threshold': 0.995,
    'example_splits': '["eval"]',
  }
  assert 'lower' not in props['eval_config'].lower().replace('lower_is_better', '')
  folded = parameters.fold(
    props, 'accuracy_threshold', 'eval_config', mnist_evaluator.with_accuracy_threshold
  )
  assert 'accuracy_threshold' not in folded and props['accuracy_threshold'] == 0.995  # a copy
  assert folded['example_splits'] == '["eval"]'
  config = json_format.Parse(folded['eval_config'], tfma.EvalConfig())
  threshold = config.metrics_specs[0].metrics[0].threshold
  assert threshold.value_threshold.lower_bound.value == 0.995
  assert threshold.change_threshold.absolute.value == mnist_evaluator.NO_WORSE_THAN_BASELINE


@pytest.mark.parametrize(
  'bound, message',
  [
    (1.5, r'accuracy threshold must be in \[0, 1\], got 1.5'),
    (-0.1, r'must be in \[0, 1\]'),
    ('0.9x', 'could not convert'),
  ],
)
def test_a_bad_bound_from_a_run_is_refused_by_the_one_check(bound, message):
  with pytest.raises(ValueError, match=message):
    parameters.fold(
      {'eval_config': _eval_config_json(), 'accuracy_threshold': bound},
      'accuracy_threshold',
      'eval_config',
      mnist_evaluator.with_accuracy_threshold,
    )
  with pytest.raises(ValueError, match=message):
    parameters.check_accuracy_threshold(bound)


def test_a_missing_parameter_says_so():
  with pytest.raises(ValueError, match="'accuracy_threshold' parameter is missing"):
    parameters.fold(
      {'eval_config': _eval_config_json()},
      'accuracy_threshold',
      'eval_config',
      mnist_evaluator.with_accuracy_threshold,
    )


def test_eval_config_without_accuracy_is_refused():
  config = json.dumps({'metrics_specs': [{'metrics': [{'class_name': 'ExampleCount'}]}]})
  with pytest.raises(ValueError, match='no SparseCategoricalAccuracy'):
    mnist_evaluator.with_accuracy_threshold(config, 0.9)


def test_epochs_live_only_in_their_parameter_and_are_checked_by_training_config():
  training = TrainingConfig(epochs=7, batch_size=64)
  custom_config = json.dumps(
    {k: v for k, v in training.to_custom_config().items() if k != 'epochs'}
  )
  folded = parameters.fold(
    {'custom_config': custom_config, 'epochs': 3.0},
    'epochs',
    'custom_config',
    mnist_trainer.with_epochs,
  )  # KFP may hand an integer back as a float
  assert TrainingConfig.from_custom_config(json.loads(folded['custom_config'])) == TrainingConfig(
    epochs=3, batch_size=64
  )
  with pytest.raises(ValueError, match='epochs must be >= 1, got 0'):
    parameters.fold(
      {'custom_config': custom_config, 'epochs': 0},
      'epochs',
      'custom_config',
      mnist_trainer.with_epochs,
    )
