"""MnistEvaluator: TFX's Evaluator (TFMA) with the accuracy bound as its own parameter.

The gate: SparseCategoricalAccuracy on the eval split ≥ the bound, and no lower than the
latest blessed model's. The bound lives only in the `accuracy_threshold` parameter (a Kubeflow
run can set it) and is written into the EvalConfig just before TFMA runs; TFMA's own record of
the config it applied (eval_config.json in the evaluation) is what the read side reports.
"""
import dataclasses
import json
from typing import Any, Dict, List, Optional, Union

import tensorflow_model_analysis as tfma
from google.protobuf import json_format
from tfx import types
from tfx.components.evaluator import executor as evaluator_executor
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.orchestration import data_types
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs
from tfx.types.component_spec import ExecutionParameter

from components import parameters
from trainer_module.features import EVAL_SPLIT, LABEL_KEY

ACCURACY_THRESHOLD_KEY = 'accuracy_threshold'
PIPELINE_NAME_KEY = 'pipeline_name'  # stamped on the blessing: Vertex's resolver filters by it
ACCURACY_CLASS = 'SparseCategoricalAccuracy'
ACCURACY_METRIC = 'sparse_categorical_accuracy'
EXAMPLE_COUNT_METRIC = 'example_count'
# 'No worse than the last blessed model': the change may not fall below this.
NO_WORSE_THAN_BASELINE = -1e-10


def make_eval_config() -> tfma.EvalConfig:
  """Bless only if no worse than the latest blessed model; the bound is added by the executor."""
  accuracy = tfma.MetricConfig(
      class_name=ACCURACY_CLASS,
      threshold=tfma.MetricThreshold(
          change_threshold=tfma.GenericChangeThreshold(
              direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={'value': NO_WORSE_THAN_BASELINE})))
  return tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(signature_name='serving_default', label_key=LABEL_KEY,
                                  prediction_key='probabilities')],
      slicing_specs=[tfma.SlicingSpec()],
      metrics_specs=[tfma.MetricsSpec(metrics=[accuracy, tfma.MetricConfig(class_name='ExampleCount')])])


def with_accuracy_bound(eval_config_json: str, bound) -> str:
  """The EvalConfig with `bound` as the accuracy's lower bound, checked first."""
  bound = parameters.check_accuracy_bound(bound)
  config = json_format.Parse(eval_config_json, tfma.EvalConfig())
  found = False
  for spec in config.metrics_specs:
    for metric in spec.metrics:
      if metric.class_name == ACCURACY_CLASS:
        metric.threshold.value_threshold.lower_bound.value = bound
        found = True
  if not found:
    raise ValueError(f'eval_config has no {ACCURACY_CLASS} metric to bound')
  return json_format.MessageToJson(config, sort_keys=True)


class MnistEvaluatorSpec(standard_component_specs.EvaluatorSpec):
  PARAMETERS = {**standard_component_specs.EvaluatorSpec.PARAMETERS,
                ACCURACY_THRESHOLD_KEY: ExecutionParameter(type=float),
                PIPELINE_NAME_KEY: ExecutionParameter(type=str, optional=True)}


class Executor(evaluator_executor.Executor):
  """Writes the `accuracy_threshold` parameter into the EvalConfig, then evaluates as TFX does;
  the blessing names the pipeline that made it."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
    exec_properties = parameters.fold(exec_properties, ACCURACY_THRESHOLD_KEY, 'eval_config',
                                      with_accuracy_bound)
    pipeline_name = exec_properties.pop(PIPELINE_NAME_KEY, None)
    super().Do(input_dict, output_dict, exec_properties)
    if pipeline_name:
      for blessing in output_dict.get('blessing', []):
        blessing.set_string_custom_property(PIPELINE_NAME_KEY, pipeline_name)


class MnistEvaluator(base_component.BaseComponent):
  """TFMA on the `eval` split through the model's serving_default signature."""

  SPEC_CLASS = MnistEvaluatorSpec
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

  def __init__(self, examples: types.BaseChannel, model: types.BaseChannel,
               baseline_model: types.BaseChannel,
               accuracy_threshold: Union[float, data_types.RuntimeParameter],
               pipeline_name: Optional[str] = None):
    spec = MnistEvaluatorSpec(
        examples=examples,
        model=model,
        baseline_model=baseline_model,
        eval_config=make_eval_config(),
        example_splits=json.dumps([EVAL_SPLIT]),
        accuracy_threshold=accuracy_threshold,
        pipeline_name=pipeline_name,
        evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
        blessing=types.Channel(type=standard_artifacts.ModelBlessing))
    super().__init__(spec=spec)


@dataclasses.dataclass
class Evaluation:
  """What one Evaluator run found, read from its output alone (any orchestrator, any filesystem)."""
  accuracy: Optional[float] = None
  baseline_accuracy: Optional[float] = None
  failures: List[str] = dataclasses.field(default_factory=list)  # why not blessed
  lower_bound: Optional[float] = None  # the gate TFMA applied (its eval_config.json)
  change_threshold: Optional[Dict[str, Any]] = None  # only when a baseline was compared
  example_count: Optional[int] = None  # examples the candidate was evaluated on


def read_evaluation(uri: str) -> Evaluation:
  """What TFMA found and the gate it applied, read from the evaluation alone (any orchestrator)."""
  from tensorflow_model_analysis.writers import eval_config_writer
  from components.object_storage import enable_for
  enable_for(uri)
  evaluation = Evaluation()
  for metrics in tfma.load_metrics(uri):
    if metrics.slice_key.single_slice_keys:
      continue  # overall slice only
    for kv in metrics.metric_keys_and_values:
      if kv.key.is_diff:
        continue
      if kv.key.name == EXAMPLE_COUNT_METRIC and kv.key.model_name != 'baseline':
        evaluation.example_count = int(kv.value.double_value.value)
      if kv.key.name != ACCURACY_METRIC:
        continue
      value = kv.value.double_value.value
      if kv.key.model_name == 'baseline':
        evaluation.baseline_accuracy = value
      else:
        evaluation.accuracy = value
  validation = tfma.load_validation_result(uri)
  for per_slice in validation.metric_validations_per_slice:
    for failure in per_slice.failures:
      threshold = failure.metric_threshold
      value = failure.metric_value.double_value.value
      if threshold.HasField('change_threshold'):
        evaluation.failures.append(f'{ACCURACY_METRIC} changed by {value:+.4f} against the last '
                                   'blessed model (must not get worse)')
      else:
        bound = threshold.value_threshold.lower_bound.value
        evaluation.failures.append(f'{ACCURACY_METRIC} {value:.4f} is below the bound {bound:.4f}')
  eval_config = eval_config_writer.load_eval_run(uri)[0]
  for spec in eval_config.metrics_specs if eval_config else ():
    for metric in spec.metrics:
      if metric.class_name == ACCURACY_CLASS and metric.HasField('threshold'):
        threshold = metric.threshold
        if threshold.value_threshold.HasField('lower_bound'):
          evaluation.lower_bound = threshold.value_threshold.lower_bound.value
        if threshold.HasField('change_threshold'):
          evaluation.change_threshold = {
              'absolute': threshold.change_threshold.absolute.value,
              'direction': tfma.MetricDirection.Name(threshold.change_threshold.direction)}
  return evaluation
