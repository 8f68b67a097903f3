"""MnistTrainer: TFX's Trainer (GenericExecutor + run_fn) with `epochs` as its own parameter.

The training settings travel as one JSON custom_config, all but `epochs`: that is a parameter of
its own, so a Kubeflow run can set it (a pipeline parameter), and it is folded into the config
just before training. So are the class names of a data set that brings its own classes (images,
csv), read from the Examples artifact the Trainer is given: the model gets one output for each,
whatever the pipeline was compiled with.
"""

import json
from typing import Any, Dict, List, Optional, Union

from tfx import types
from tfx.components.trainer import executor as trainer_executor
from tfx.dsl.components.base import base_component, executor_spec
from tfx.orchestration import data_types
from tfx.proto import trainer_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter

from components import parameters
from components.lib import artifact_files, names
from trainer_module.config import TrainingConfig
from trainer_module.features import CLASS_NAMES_CONFIG, EVAL_SPLIT, TRAIN_SPLIT

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


def with_class_names(custom_config_json: str, class_names: Optional[List[str]]) -> str:
  """The training settings with the data's class names (None: MNIST's 10 classes, as before)."""
  if class_names is None:
    return custom_config_json
  return json.dumps({**json.loads(custom_config_json), CLASS_NAMES_CONFIG: class_names})


class Executor(trainer_executor.GenericExecutor):
  """Folds the `epochs` parameter and the data's class names into custom_config, then trains as
  TFX's Trainer does."""

  def Do(
    self,
    input_dict: Dict[str, List[types.Artifact]],
    output_dict: Dict[str, List[types.Artifact]],
    exec_properties: Dict[str, Any],
  ) -> None:
    folded = parameters.fold(exec_properties, names.EPOCHS, 'custom_config', with_epochs)
    examples = artifact_utils.get_single_instance(input_dict['examples'])
    folded['custom_config'] = with_class_names(
      folded['custom_config'], artifact_files.data_class_names(examples)
    )
    super().Do(input_dict, output_dict, folded)


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
