"""create_pipeline: ExampleGen → Trainer → Evaluator (gate) → Pusher, for any runner."""
from typing import List, Optional

import tensorflow_model_analysis as tfma
from tfx import v1 as tfx

from components.mnist_example_gen import create_example_gen
from pipeline.config import PipelineConfig

RUN_FN = 'trainer_module.task.run_fn'
LABEL_KEY = 'label'
ACCURACY_METRIC = 'sparse_categorical_accuracy'


def make_eval_config(accuracy_threshold: float) -> tfma.EvalConfig:
  """Bless only if accuracy ≥ the bound and no worse than the latest blessed model."""
  accuracy = tfma.MetricConfig(
      class_name='SparseCategoricalAccuracy',
      threshold=tfma.MetricThreshold(
          value_threshold=tfma.GenericValueThreshold(lower_bound={'value': accuracy_threshold}),
          change_threshold=tfma.GenericChangeThreshold(
              direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={'value': -1e-10})))
  return tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(signature_name='serving_default', label_key=LABEL_KEY,
                                  prediction_key='probabilities')],
      slicing_specs=[tfma.SlicingSpec()],
      metrics_specs=[tfma.MetricsSpec(metrics=[accuracy, tfma.MetricConfig(class_name='ExampleCount')])])


def create_components(config: PipelineConfig) -> List:
  example_gen = create_example_gen(config.data_dir, config.train_examples, config.eval_examples)

  trainer = tfx.components.Trainer(
      run_fn=RUN_FN,
      examples=example_gen.outputs['examples'],
      train_args=tfx.proto.TrainArgs(splits=['train']),
      eval_args=tfx.proto.EvalArgs(splits=['eval']),
      custom_config=config.training.to_custom_config())

  baseline_resolver = tfx.dsl.Resolver(
      strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
      model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
      model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
  ).with_id('LatestBlessedModelResolver')

  evaluator = tfx.components.Evaluator(
      examples=example_gen.outputs['examples'],
      model=trainer.outputs['model'],
      baseline_model=baseline_resolver.outputs['model'],
      example_splits=['eval'],
      eval_config=make_eval_config(config.accuracy_threshold))

  pusher = tfx.components.Pusher(
      model=trainer.outputs['model'],
      model_blessing=evaluator.outputs['blessing'],
      push_destination=tfx.proto.PushDestination(
          filesystem=tfx.proto.PushDestination.Filesystem(base_directory=config.serving_dir)))

  return [example_gen, trainer, baseline_resolver, evaluator, pusher]


def create_pipeline(config: PipelineConfig,
                    metadata_connection_config=None) -> tfx.dsl.Pipeline:
  """The whole pipeline; runners add only the orchestrator and, locally, the MLMD store."""
  return tfx.dsl.Pipeline(
      pipeline_name=config.pipeline_name,
      pipeline_root=config.pipeline_root,
      components=create_components(config),
      enable_cache=config.enable_cache,
      metadata_connection_config=metadata_connection_config,
      beam_pipeline_args=list(config.beam_args))
