"""The command-line flags every runner shares (`mnist-tfx run`, `mnist-tfx kubeflow compile`): the
data set, training, the gates, Beam; each parsed and bounded as it is read, so a bad value is one
line and exit 2 before anything runs. What they become: pipeline/config.py."""

import argparse
import dataclasses
import math
from typing import Any, Callable, Dict, List

from components.lib import datasets
from components.parameters import (
  DEFAULT_LABEL_DRIFT_BOUND,
  DEFAULT_LATENCY_BOUND_MS,
  check_accuracy_threshold,
  check_label_drift_bound,
  check_latency_bound,
)
from trainer_module.config import PRECISIONS, STRATEGIES, TRAINING_LOOPS, TrainingConfig


def add_dataset_arguments(data: argparse._ArgumentGroup) -> None:
  data.add_argument(
    '--dataset',
    choices=list(datasets.DATASETS),
    default=datasets.DEFAULT,
    help="which data: mnist (default), fashion-mnist (Zalando's, pinned digests; "
    'found in $FASHION_MNIST_DATA_DIR, /usr/share/datasets/fashion-mnist or '
    'downloaded), idx (any 10-class 28x28 set in the four IDX files, no digest '
    'pin), images (a folder of pictures, a folder per class: train/<class>/ and '
    'test/<class>/, or <class>/) or csv (train.csv and test.csv: label,pixel0,...,'
    'pixel783); the last three need --data-dir',
  )
  data.add_argument(
    '--infer-dir',
    metavar='DIR',
    help="new pictures for the blessed model to label (TFX's BulkInferrer) into a CSV "
    "in the run's output; with --dataset images or csv",
  )
  data.add_argument(
    '--label-drift-bound',
    type=_drift_bound,
    metavar='X',
    default=DEFAULT_LABEL_DRIFT_BOUND,
    help='stop before training if the train and eval label distributions differ '
    'by more than this L-infinity distance (default: %(default)s)',
  )


def _per_dataset(value) -> str:
  """'18 for mnist, 12 for fashion-mnist, ...': a default that each data set sets, for --help."""
  return ', '.join(f'{value(d):g} for {d.name}' for d in datasets.DATASETS.values())


MAX_INT = 2**31 - 1  # what every consumer of an integer flag takes (ML Metadata, TF, NumPy seeds)


def _number(text: str, kind: type = float) -> Any:
  """`text` as an int or a finite float, or ValueError with one readable line (argparse would
  say "invalid _positive_int value")."""
  try:
    value = kind(text)
  except ValueError:
    what = 'a whole number' if kind is int else 'a number'
    raise ValueError(f'expected {what}, got {text!r}') from None
  if kind is float and not math.isfinite(value):
    raise ValueError(f'must be a finite number, got {text}')
  if kind is int and not -MAX_INT <= value <= MAX_INT:
    raise ValueError(f'must be at most {MAX_INT:,} in size, got {text}')
  return value


def _argument(check: Callable[[Any], Any], kind: type = float) -> Callable[[str], Any]:
  """An argparse `type`: the text as a number, then `check` (one of components/parameters.py's,
  or a range), its message kept."""

  def parse(text: str):
    try:
      return check(_number(text, kind))
    except ValueError as e:
      raise argparse.ArgumentTypeError(str(e)) from None

  return parse


def _at_least(low: int) -> Callable[[int], int]:
  def check(value: int) -> int:
    if value < low:
      raise ValueError(f'must be >= {low}, got {value}')
    return value

  return check


def _augmentation(name: str) -> Callable[[str], float]:
  """An argparse `type` for one augmentation bound, checked as TrainingConfig checks it."""

  def check(value: float) -> float:
    changes: Dict[str, Any] = {name: value}
    dataclasses.replace(TrainingConfig(), **changes)  # its checks, its message
    return value

  return _argument(check)


def _in_range(low: int, high: int) -> Callable[[int], int]:
  def check(value: int) -> int:
    if not low <= value <= high:
      raise ValueError(f'must be from {low} to {high}, got {value}')
    return value

  return check


port_number = _argument(_in_range(1, 65535), int)  # a TCP port: --mysql-port, --grpc-port
_positive_int = _argument(_at_least(1), int)
_non_negative_int = _argument(_at_least(0), int)
_seed = _argument(_at_least(0), int)
_accuracy_threshold = _argument(check_accuracy_threshold)
_latency_bound = _argument(check_latency_bound)
_drift_bound = _argument(check_label_drift_bound)
_finite_float = _argument(lambda value: value)


LOCAL_DATA_DIR_HELP = (
  'folder (or gs:// URI) with the four MNIST IDX .gz files; '
  'default: $MNIST_DATA_DIR, else download from the public mirrors'
)


def add_arguments(
  parser: argparse.ArgumentParser, data_dir_help: str = LOCAL_DATA_DIR_HELP
) -> None:
  """Pipeline and trainer flags shared by every runner."""
  defaults = TrainingConfig()
  data = parser.add_argument_group('data')
  data.add_argument('--data-dir', metavar='DIR', help=data_dir_help)
  add_dataset_arguments(data)
  data.add_argument(
    '--train-examples',
    type=_positive_int,
    metavar='N',
    help='use only the first N training examples (default: all 60000)',
  )
  data.add_argument(
    '--eval-examples',
    type=_positive_int,
    metavar='N',
    help='use only the first N test examples (default: all 10000)',
  )
  train = parser.add_argument_group('training')
  train.add_argument(
    '--epochs',
    type=_positive_int,
    metavar='N',
    help="training epochs (default: the data set's: "
    f'{_per_dataset(lambda d: d.training_defaults.epochs)})',
  )
  train.add_argument(
    '--batch-size',
    type=_positive_int,
    metavar='N',
    default=defaults.batch_size,
    help='global batch size (default: %(default)s)',
  )
  train.add_argument(
    '--learning-rate',
    type=_finite_float,
    metavar='X',
    default=defaults.learning_rate,
    help='Adam learning rate at the start of the cosine decay (default: %(default)s)',
  )
  train.add_argument(
    '--strategy',
    choices=STRATEGIES,
    default=defaults.strategy,
    help='distribution strategy (default: %(default)s = CPU or one GPU)',
  )
  train.add_argument(
    '--tpu', metavar='NAME_OR_GRPC_ADDRESS', help='train on this Cloud TPU (implies --strategy tpu)'
  )
  # Trainer flags: training loop, precision, validation split.
  train.add_argument(
    '--training-loop',
    choices=TRAINING_LOOPS,
    default=defaults.training_loop,
    help="'fit' (Keras Model.fit) or 'custom' (the seed's eager loop: GradientTape in "
    'tf.function; needed for --strategy multi_worker) (default: %(default)s)',
  )
  train.add_argument(
    '--precision',
    choices=PRECISIONS,
    default=defaults.precision,
    help='float32, Keras mixed precision, or auto: bfloat16 on CPUs with '
    'AVX512_BF16/AMX and on TPUs, float16 on GPUs with tensor cores, else float32 '
    '(default: %(default)s)',
  )
  train.add_argument(
    '--augment-rotation',
    type=_augmentation('augment_rotation'),
    metavar='DEG',
    help='rotate each training image by up to this many degrees either way (0 = '
    f'none; default: {_per_dataset(lambda d: d.training_defaults.augment_rotation)})',
  )
  train.add_argument(
    '--augment-zoom',
    type=_augmentation('augment_zoom'),
    metavar='X',
    help='scale each training image by 1 ± up to X (0 = none; default: '
    f'{_per_dataset(lambda d: d.training_defaults.augment_zoom)})',
  )
  train.add_argument(
    '--augment-shift',
    type=_augmentation('augment_shift'),
    metavar='PX',
    help='shift each training image by up to this many pixels in x and in y (0 = '
    f'none; default: {_per_dataset(lambda d: d.training_defaults.augment_shift)}). '
    'Validation, evaluation and the exported model never see augmented images',
  )
  train.add_argument(
    '--augment-flip',
    action=argparse.BooleanOptionalAction,
    help='mirror half the training images left to right, for classes that look '
    'the same mirrored (clothes, not digits) (default: '
    + ', '.join(
      f'{"on" if d.training_defaults.augment_flip else "off"} for {d.name}'
      for d in datasets.DATASETS.values()
    )
    + ')',
  )
  train.add_argument(
    '--seed',
    type=_seed,
    metavar='N',
    default=defaults.seed,
    help='seed for the weights, dropout, shuffling and augmentation (default: '
    'unseeded, a new draw whenever the Trainer trains; an unchanged rerun reuses '
    'the cached Trainer: pass --no-cache or another --seed for a fresh model)',
  )
  train.add_argument(
    '--validation-examples',
    type=_non_negative_int,
    metavar='N',
    help='hold the last N training examples out of training for per-epoch '
    'validation; 0 = none (default: 5000 of 60000, 1/12 of fewer)',
  )
  gate = parser.add_argument_group('evaluation')
  gate.add_argument(
    '--accuracy-threshold',
    type=_accuracy_threshold,
    metavar='X',
    default=None,
    help="bless only if test accuracy is at least this (default: the data set's: "
    f'{_per_dataset(lambda d: d.default_accuracy_threshold)})',
  )
  gate.add_argument(
    '--serving-latency-bound',
    type=_latency_bound,
    metavar='MS',
    default=DEFAULT_LATENCY_BOUND_MS,
    help="push only if the serving check's p99 latency for one image through "
    '`classify` is at most this many milliseconds (default: %(default)g)',
  )
  parser.add_argument(
    '--no-cache',
    action='store_true',
    help='rerun every component even if its inputs and settings are unchanged '
    '(e.g. after editing trainer code)',
  )
  parser.add_argument(
    '--beam-args',
    default='',
    metavar='ARGS',
    help="options for Beam, one quoted string, e.g. '--direct_num_workers=2' "
    "or a distributed runner's options",
  )


def join_option_values(argv: List[str], options=('--beam-args',)) -> List[str]:
  """Lets `--beam-args --runner=X` work: argparse would take '--runner=X' for an option."""
  joined, i = [], 0
  while i < len(argv):
    if argv[i] in options and i + 1 < len(argv):
      joined.append(f'{argv[i]}={argv[i + 1]}')
      i += 2
    else:
      joined.append(argv[i])
      i += 1
  return joined
