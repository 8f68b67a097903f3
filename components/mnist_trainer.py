"""MnistTrainer: TFX's Trainer (GenericExecutor + run_fn) with `epochs` as its own parameter.

The training settings travel as one JSON custom_config, all but `epochs`: that is a parameter of
its own, so a Kubeflow run can set it (a pipeline parameter), and it is folded into the config
just before training.
"""

import json
from typing import Any, Dict, List, Optional, Union

from tfx import types
from tfx.components.trainer import executor as trainer_executor
from tfx.dsl.components.base import base_component, executor_spec
from tfx.orchestration import data_types
from tfx.proto import trainer_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter

from components import parameters
from components.lib import names
from trainer_module.config import TrainingConfig
from trainer_module.features import EVAL_SPLIT, TRAIN_SPLIT

RUN_FN = 'trainer_module.task.run_fn'


class MnistTrainerSpec(standard_component_specs.TrainerSpec):
  PARAMETERS = {
    **standard_component_specs.TrainerSpec.PARAMETERS,
    names.EPOCHS: ExecutionParameter(type=int),
  }


def with_epochs(custom_config_json: str, epochs) -> str:
  """The training settings with `epochs` set, checked by TrainingConfig (the one place)."""
  config = json.loads(custom_config_json)
  config[names.EPOCHS] = epochs
  return json.dumps(TrainingConfig.from_custom_config(config).to_custom_config(), sort_keys=True)


class Executor(trainer_executor.GenericExecutor):
  """Folds the `epochs` parameter into custom_config, then trains as TFX's Trainer does."""

  def Do(
    self,
    input_dict: Dict[str, List[types.Artifact]],
    output_dict: Dict[str, List[types.Artifact]],
    exec_properties: Dict[str, Any],
  ) -> None:
    super().Do(
      input_dict,
      output_dict,
      parameters.fold(exec_properties, names.EPOCHS, 'custom_config', with_epochs),
    )


class MnistTrainer(base_component.BaseComponent):
  """Trains the seed CNN via `trainer_module.task.run_fn` (no module file, no wheel build)."""

  SPEC_CLASS = MnistTrainerSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

  def __init__(
    self,
    examples: types.BaseChannel,
    training: TrainingConfig,
    epochs: Optional[Union[int, data_types.RuntimeParameter]] = None,
  ):
    spec = MnistTrainerSpec(
      examples=examples,
      train_args=trainer_pb2.TrainArgs(splits=[TRAIN_SPLIT]),
      eval_args=trainer_pb2.EvalArgs(splits=[EVAL_SPLIT]),
      run_fn=RUN_FN,
      custom_config=json.dumps(
        {k: v for k, v in training.to_custom_config().items() if k != names.EPOCHS}, sort_keys=True
      ),
      epochs=training.epochs if epochs is None else epochs,
      model=types.Channel(type=standard_artifacts.Model),
      model_run=types.Channel(type=standard_artifacts.ModelRun),
    )
    super().__init__(spec=spec)
