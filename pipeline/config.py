"""PipelineConfig: the one object that flows from any CLI (local, Kubeflow) to create_pipeline."""

import argparse
import dataclasses
import os
import shlex
from typing import Any, Dict, Optional, Tuple

from components.lib import datasets
from components.parameters import (
  DEFAULT_LABEL_DRIFT_BOUND,
  DEFAULT_LATENCY_BOUND_MS,
  check_accuracy_threshold,
  check_label_drift_bound,
  check_latency_bound,
)
from trainer_module.config import (
  TrainingConfig,
  TrainingDefaults,
)

PIPELINE_NAME = 'mnist-tfx'  # dashes only: KubeflowV2 rejects '_' ([a-z0-9][a-z0-9-]{0,127})
# The smoke run (`--demo`, `make demo`): a slice of the data, briefly trained, with a bound that
# slice can reach, into its own output dir (pipeline/paths.py).
DEMO_SETTINGS = {
  'train_examples': 10000,
  'eval_examples': 1000,
  'epochs': 2,
  'accuracy_threshold': 0.9,
}
DEFAULT_ACCURACY_THRESHOLD = datasets.MNIST.default_accuracy_threshold  # 0.99: MNIST's


def accuracy_threshold_of(args: argparse.Namespace) -> float:
  """--accuracy-threshold, else the data set's default (MNIST 0.99, Fashion-MNIST 0.85)."""
  if getattr(args, 'accuracy_threshold', None) is not None:
    return args.accuracy_threshold
  return datasets.get(getattr(args, 'dataset', None)).default_accuracy_threshold


TRAINING_DEFAULT_FLAGS = tuple(f.name for f in dataclasses.fields(TrainingDefaults))


def training_defaults_of(args: argparse.Namespace) -> Dict[str, Any]:
  """--epochs and --augment-*: each as given, else the data set's default
  (components/lib/datasets.py)."""
  defaults = datasets.get(getattr(args, 'dataset', None)).training_defaults
  return {
    name: getattr(defaults, name) if getattr(args, name, None) is None else getattr(args, name)
    for name in TRAINING_DEFAULT_FLAGS
  }


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
  data_dir: str  # folder or gs:// / s3:// URI holding the four MNIST IDX .gz files
  pipeline_root: str
  serving_dir: str  # Pusher destination: <serving_dir>/<integer version>/
  training: TrainingConfig = TrainingConfig()
  train_examples: Optional[int] = None  # first N of the 60k training set
  eval_examples: Optional[int] = None  # first N of the 10k test set
  accuracy_threshold: float = DEFAULT_ACCURACY_THRESHOLD
  serving_latency_bound_ms: float = DEFAULT_LATENCY_BOUND_MS  # ServingCheck: p99, one image
  beam_args: Tuple[str, ...] = ()
  enable_cache: bool = True
  pipeline_name: str = PIPELINE_NAME
  # --- data set and data validation ---
  dataset: str = datasets.DEFAULT  # components/lib/datasets.py: mnist, …, images, csv
  label_drift_bound: float = DEFAULT_LABEL_DRIFT_BOUND  # L-infinity, train vs eval labels
  # A folder of new pictures the blessed model labels (TFX's BulkInferrer); None: none.
  infer_dir: Optional[str] = None

  def __post_init__(self):
    datasets.check_infer_dir(self.infer_dir, self.dataset)
    check_label_drift_bound(self.label_drift_bound)
    check_accuracy_threshold(self.accuracy_threshold)
    check_latency_bound(self.serving_latency_bound_ms)
    for name in ('train_examples', 'eval_examples'):
      value = getattr(self, name)
      if value is not None and value < 1:
        raise ValueError(f'{name.replace("_", "-")} must be >= 1, got {value}')


def training_from_args(args: argparse.Namespace) -> TrainingConfig:
  """The trainer's settings; flags that are fine alone but not together are refused here."""
  training = TrainingConfig(
    batch_size=args.batch_size,
    learning_rate=args.learning_rate,
    strategy='tpu' if args.tpu else args.strategy,
    tpu=args.tpu,
    training_loop=args.training_loop,
    precision=args.precision,
    validation_examples=args.validation_examples,
    seed=args.seed,
    **training_defaults_of(args),
  )
  if args.train_examples is not None:
    training.validation_split(args.train_examples)  # refuses a split as large as the data
  datasets.check_infer_dir(getattr(args, 'infer_dir', None), getattr(args, 'dataset', None))
  return training


def config_from_args(
  args: argparse.Namespace,
  data_dir: str,
  pipeline_root: str,
  serving_dir: str,
  pipeline_name: str = PIPELINE_NAME,
) -> PipelineConfig:
  dataset, infer_dir = getattr(args, 'dataset', datasets.DEFAULT), getattr(args, 'infer_dir', None)
  training = dataclasses.replace(
    training_from_args(args), normalize_polarity=datasets.get(dataset).normalize_polarity
  )
  return PipelineConfig(
    data_dir=data_dir,
    pipeline_root=pipeline_root,
    serving_dir=serving_dir,
    training=training,
    train_examples=args.train_examples,
    eval_examples=args.eval_examples,
    accuracy_threshold=accuracy_threshold_of(args),
    serving_latency_bound_ms=args.serving_latency_bound,
    beam_args=tuple(shlex.split(args.beam_args)),
    enable_cache=not args.no_cache,
    pipeline_name=pipeline_name,
    dataset=dataset,
    label_drift_bound=getattr(args, 'label_drift_bound', DEFAULT_LABEL_DRIFT_BOUND),
    infer_dir=infer_dir and (infer_dir if '://' in infer_dir else os.path.abspath(infer_dir)),
  )
