"""MnistEvaluator: TFX's Evaluator (TFMA) with the accuracy bound as its own parameter.

The gate: SparseCategoricalAccuracy on the eval split ≥ the bound, and no lower than the
latest blessed model's. The bound lives only in the `accuracy_threshold` parameter (a Kubeflow
run can set it) and is written into the EvalConfig just before TFMA runs; TFMA's own record of
the config it applied (eval_config.json in the evaluation) is what the read side reports.
"""

import json
from typing import Any, Dict, List, Optional, Union

import tensorflow_model_analysis as tfma
from google.protobuf import json_format
from tfx import types
from tfx.components.evaluator import executor as evaluator_executor
from tfx.dsl.components.base import base_component, executor_spec
from tfx.orchestration import data_types
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter

from components import parameters
from components.lib import names
from components.lib.evaluation_result import ACCURACY_CLASS
from trainer_module.features import EVAL_SPLIT, LABEL_KEY

# 'No worse than the last blessed model': the change may not fall below this.
NO_WORSE_THAN_BASELINE = -1e-10


def make_eval_config() -> tfma.EvalConfig:
  """Bless only if no worse than the latest blessed model; the bound is added by the executor."""
  accuracy = tfma.MetricConfig(
    class_name=ACCURACY_CLASS,
    threshold=tfma.MetricThreshold(
      change_threshold=tfma.GenericChangeThreshold(
        direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={'value': NO_WORSE_THAN_BASELINE}
      )
    ),
  )
  return tfma.EvalConfig(
    model_specs=[
      tfma.ModelSpec(
        signature_name='serving_default', label_key=LABEL_KEY, prediction_key='probabilities'
      )
    ],
    slicing_specs=[tfma.SlicingSpec()],
    metrics_specs=[
      tfma.MetricsSpec(metrics=[accuracy, tfma.MetricConfig(class_name='ExampleCount')])
    ],
  )


def with_accuracy_threshold(eval_config_json: str, bound) -> str:
  """The EvalConfig with `bound` as the accuracy's lower bound, checked first."""
  bound = parameters.check_accuracy_threshold(bound)
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
  PARAMETERS = {
    **standard_component_specs.EvaluatorSpec.PARAMETERS,
    names.ACCURACY_THRESHOLD: ExecutionParameter(type=float),
    names.PIPELINE_NAME: ExecutionParameter(type=str, optional=True),
  }


class Executor(evaluator_executor.Executor):
  """Writes the `accuracy_threshold` parameter into the EvalConfig, then evaluates as TFX does;
  the blessing names the pipeline that made it."""

  def Do(
    self,
    input_dict: Dict[str, List[types.Artifact]],
    output_dict: Dict[str, List[types.Artifact]],
    exec_properties: Dict[str, Any],
  ) -> None:
    exec_properties = parameters.fold(
      exec_properties, names.ACCURACY_THRESHOLD, 'eval_config', with_accuracy_threshold
    )
    pipeline_name = exec_properties.pop(names.PIPELINE_NAME, None)
    super().Do(input_dict, output_dict, exec_properties)
    if pipeline_name:
      for blessing in output_dict.get('blessing', []):
        blessing.set_string_custom_property(
          names.PIPELINE_NAME, pipeline_name
        )  # Vertex's resolver filters by it


class MnistEvaluator(base_component.BaseComponent):
  """TFMA on the `eval` split through the model's serving_default signature."""

  SPEC_CLASS = MnistEvaluatorSpec
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

  def __init__(
    self,
    examples: types.BaseChannel,
    model: types.BaseChannel,
    baseline_model: types.BaseChannel,
    accuracy_threshold: Union[float, data_types.RuntimeParameter],
    pipeline_name: Optional[str] = None,
  ):
    spec = MnistEvaluatorSpec(
      examples=examples,
      model=model,
      baseline_model=baseline_model,
      eval_config=make_eval_config(),
      example_splits=json.dumps([EVAL_SPLIT]),
      accuracy_threshold=accuracy_threshold,
      pipeline_name=pipeline_name,
      evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
      blessing=types.Channel(type=standard_artifacts.ModelBlessing),
    )
    super().__init__(spec=spec)
