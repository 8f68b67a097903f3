"""The Trainer and Evaluator parameters that Kubeflow runs set: folded into the JSON configs."""
import json

import pytest
import tensorflow_model_analysis as tfma
from google.protobuf import json_format

from components import mnist_evaluator


def test_accuracy_bound_is_written_into_the_eval_config():
  original = json_format.MessageToJson(mnist_evaluator.make_eval_config(0.99))
  updated = json_format.Parse(mnist_evaluator.set_accuracy_bound(original, 0.995), tfma.EvalConfig())
  threshold = updated.metrics_specs[0].metrics[0].threshold
  assert threshold.value_threshold.lower_bound.value == 0.995
  assert threshold.change_threshold.absolute.value < 0  # untouched


def test_eval_config_without_accuracy_is_refused():
  config = json.dumps({'metrics_specs': [{'metrics': [{'class_name': 'ExampleCount'}]}]})
  with pytest.raises(ValueError, match='no SparseCategoricalAccuracy'):
    mnist_evaluator.set_accuracy_bound(config, 0.9)
