"""create_pipeline: ExampleGen → Trainer → Evaluator (gate) → ServingCheck (gate) → Pusher,
for any runner; with --infer-dir, also new pictures → ExampleGen → TFX's BulkInferrer (the blessed
model only) → a CSV of predictions.

TFX's modules are imported one by one, never `from tfx import v1`: the v1 package imports every
extension, Vertex's google.cloud.aiplatform included, which a local run never uses (3 CPU s of
each run's start-up; docs/benchmarks.md). Only the Vertex branch imports it.
"""

from typing import List, Optional

from tfx.components.bulk_inferrer.component import BulkInferrer
from tfx.orchestration import data_types
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import bulk_inferrer_pb2, pusher_pb2

from components.baseline_resolver import latest_blessed_other_model
from components.data_validation import create_validation
from components.latest_blessed_model import BaselineModel, LatestBlessedModel
from components.lib import datasets, names
from components.mnist_evaluator import MnistEvaluator
from components.mnist_example_gen import create_example_gen
from components.mnist_pusher import MnistPusher
from components.mnist_trainer import MnistTrainer
from components.predictions import SIGNATURE, PredictionsWriter
from components.serving_check import ServingCheck
from pipeline.config import PipelineConfig
from trainer_module.features import INFER_SPLIT


def create_components(
  config: PipelineConfig, runtime_parameters: bool = False, kfp_mlmd_address: Optional[str] = None
) -> List:
  """With runtime_parameters, data location, epochs and the accuracy bound become pipeline
  parameters (Kubeflow) whose defaults are the config's values; locally they are plain values.
  With kfp_mlmd_address (HOST:PORT of KFP's ML Metadata gRPC service), the baseline model is
  looked up by a container component instead of TFX's Resolver (for open-source KFP). Locally the
  baseline is never the candidate itself, so an identical rerun is cached from end to end."""

  def knob(name, ptype, value):
    return (
      data_types.RuntimeParameter(name=name, ptype=ptype, default=value)
      if runtime_parameters
      else value
    )

  example_gen = create_example_gen(
    knob(names.DATA_DIR, str, config.data_dir),
    config.train_examples,
    config.eval_examples,
    config.dataset,
  )
  # Statistics, schema and anomalies; the Trainer waits for the ExampleValidator.
  validation = create_validation(
    example_gen.outputs['examples'],
    config.label_drift_bound,
    container=runtime_parameters,
    classes_from_data=datasets.get(config.dataset).classes_from_data,
  )

  trainer = MnistTrainer(
    examples=example_gen.outputs['examples'],
    training=config.training,
    epochs=knob(names.EPOCHS, int, config.training.epochs),
  ).with_id(names.TRAINER)
  trainer.add_upstream_node(validation[-1])

  if kfp_mlmd_address:
    # Open-source KFP cannot run TFX's resolver: look the baseline up in KFP's MLMD instead
    # (never cached), then copy it (cached: the same URI on a rerun keeps the Evaluator cached).
    lookup = LatestBlessedModel(
      candidate=trainer.outputs['model'],
      mlmd_address=kfp_mlmd_address,
      pipeline_name=config.pipeline_name,
    ).with_id(names.BASELINE_LOOKUP)
    baseline = BaselineModel(lookup, trainer.outputs['model']).with_id(names.BASELINE_COPY)
  elif not runtime_parameters:
    # Never the candidate itself: an identical rerun keeps its baseline, and so its cache.
    baseline = latest_blessed_other_model(trainer.outputs['model']).with_id(names.BASELINE_RESOLVER)
  else:
    # Vertex compiles only TFX's own resolver strategies (components/baseline_resolver.py).
    from tfx import v1 as tfx  # deferred: imports Vertex's SDK, 3 CPU s a local run never needs

    baseline = tfx.dsl.Resolver(
      strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
      model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
      model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id(names.BASELINE_RESOLVER)

  evaluator = MnistEvaluator(
    examples=example_gen.outputs['examples'],
    model=trainer.outputs['model'],
    baseline_model=baseline.outputs['model'],
    accuracy_threshold=knob(names.ACCURACY_THRESHOLD, float, config.accuracy_threshold),
    pipeline_name=config.pipeline_name,
  ).with_id(names.EVALUATOR)

  # In a fresh process, as a model server would: both signatures, the Evaluator's answers, latency.
  serving_check = ServingCheck(
    examples=example_gen.outputs['examples'],
    model=trainer.outputs['model'],
    evaluation=evaluator.outputs['evaluation'],
    max_latency_ms=config.serving_latency_bound_ms,
  ).with_id(names.SERVING_CHECK)

  pusher = MnistPusher(
    model=trainer.outputs['model'],
    model_blessing=evaluator.outputs['blessing'],
    infra_blessing=serving_check.outputs['blessing'],
    push_destination=pusher_pb2.PushDestination(
      filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=config.serving_dir)
    ),
  ).with_id(names.PUSHER)

  lookups = [lookup] if kfp_mlmd_address else []
  inference = inference_components(config, trainer, evaluator, example_gen)
  return [
    example_gen,
    *validation,
    trainer,
    *lookups,
    baseline,
    evaluator,
    serving_check,
    pusher,
    *inference,
  ]


def inference_components(config: PipelineConfig, trainer, evaluator, example_gen) -> List:
  """With config.infer_dir: its pictures as Examples (one `infer` split), TFX's BulkInferrer with
  the candidate model and its blessing (it infers nothing with a model not blessed), and the
  predictions as a CSV linked to both in ML Metadata. None without it."""
  if not config.infer_dir:
    return []
  pictures = create_example_gen(config.infer_dir, dataset=config.dataset, unlabelled=True)
  inferrer = BulkInferrer(
    examples=pictures.outputs['examples'],
    model=trainer.outputs['model'],
    model_blessing=evaluator.outputs['blessing'],
    data_spec=bulk_inferrer_pb2.DataSpec(example_splits=[INFER_SPLIT]),
    model_spec=bulk_inferrer_pb2.ModelSpec(model_signature_name=[SIGNATURE]),
  ).with_id(names.BULK_INFERRER)
  writer = PredictionsWriter(
    inference_result=inferrer.outputs['inference_result'],
    model_blessing=evaluator.outputs['blessing'],
    examples=example_gen.outputs['examples'],
  ).with_id(names.PREDICTIONS_WRITER)
  return [pictures, inferrer, writer]


def create_pipeline(
  config: PipelineConfig,
  metadata_connection_config=None,
  runtime_parameters: bool = False,
  kfp_mlmd_address: Optional[str] = None,
) -> tfx_pipeline.Pipeline:
  """The whole pipeline; runners add only the orchestrator and, locally, the MLMD store."""
  return tfx_pipeline.Pipeline(
    pipeline_name=config.pipeline_name,
    pipeline_root=config.pipeline_root,
    components=create_components(config, runtime_parameters, kfp_mlmd_address),
    enable_cache=config.enable_cache,
    metadata_connection_config=metadata_connection_config,
    beam_pipeline_args=list(config.beam_args),
  )
