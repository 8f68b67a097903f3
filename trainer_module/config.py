"""Training hyperparameters: the one object passed from the CLI, through the Trainer's
custom_config, to run_fn. Kept free of TensorFlow imports so the CLI stays fast."""

import dataclasses
from typing import Any, Dict, Optional

STRATEGIES = ('default', 'mirrored', 'multi_worker', 'tpu')
TRAINING_LOOPS = ('fit', 'custom')  # keras Model.fit, or the seed's eager loop (custom_loop.py)
PRECISIONS = ('auto', 'float32', 'mixed_bfloat16', 'mixed_float16')  # see precision.py
# Held out of the end of `train` for per-epoch validation (None = this many, or 1/12 of a smaller
# split: 5,000 of MNIST's 60,000), so the `eval` split is left to the Evaluator's gate.
DEFAULT_VALIDATION_EXAMPLES = 5000
DEFAULT_VALIDATION_DIVISOR = 12
# Training-time augmentation (augment.py): each bound's open upper limit.
AUGMENTATION_LIMITS = {'augment_rotation': 180.0, 'augment_zoom': 1.0, 'augment_shift': 28.0}


# Logged (absl) by the Trainer once it knows the precision; the local runner prints it.
TRAINING_PLAN_LOG = 'Trainer plan: %s'


@dataclasses.dataclass(frozen=True)
class TrainingDefaults:
  """What a run trains with when the flag is not given (--epochs, --augment-*); each data set
  names one of the presets below (components/lib/datasets.py)."""

  epochs: int
  augment_rotation: float  # degrees either way
  augment_zoom: float  # scale by 1 ± this
  augment_shift: float  # pixels in x and in y
  augment_flip: bool = False  # mirror half the images left/right: for symmetric classes only


# Digits: 18 epochs with small rotations, zooms and shifts reach about 99.6 % on MNIST
# (docs/benchmarks.md). The default data set's, hence TrainingConfig's defaults.
DIGIT_TRAINING = TrainingDefaults(
  epochs=18, augment_rotation=10.0, augment_zoom=0.1, augment_shift=2.0
)
# Clothes look the same mirrored, digits do not: Fashion-MNIST trains on images mirrored at random
# and without the digits' rotations, zooms and shifts (each cost it accuracy; docs/benchmarks.md,
# "Fashion-MNIST: mirrored, not moved").
CLOTHES_TRAINING = TrainingDefaults(
  epochs=18, augment_rotation=0.0, augment_zoom=0.0, augment_shift=0.0, augment_flip=True
)
# A folder of pictures (--dataset images): anything from digits to photos, often a few thousand
# or fewer, so more epochs; small moves, no mirroring (a class may not look the same mirrored).
PICTURE_TRAINING = TrainingDefaults(
  epochs=30, augment_rotation=10.0, augment_zoom=0.1, augment_shift=2.0
)
# A CSV of 28x28 images (--dataset csv, Kaggle's layout): MNIST-sized sets of centred images.
CSV_TRAINING = TrainingDefaults(
  epochs=12, augment_rotation=10.0, augment_zoom=0.1, augment_shift=2.0
)
_DEFAULTS = DIGIT_TRAINING


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
  epochs: int = _DEFAULTS.epochs
  batch_size: int = 128
  learning_rate: float = 1e-3
  # Cosine decay of the learning rate to this fraction of its start over all epochs.
  final_learning_rate_fraction: float = 0.01
  strategy: str = 'default'
  tpu: Optional[str] = None
  # Seeds the weights, dropout, shuffling and augmentation; None: a new draw every run.
  seed: Optional[int] = None
  # Each training image is rotated by up to ±augment_rotation degrees, scaled by 1 ± augment_zoom
  # and shifted by up to ±augment_shift pixels in x and y (augment.py); all 0: no augmentation.
  augment_rotation: float = _DEFAULTS.augment_rotation
  augment_zoom: float = _DEFAULTS.augment_zoom
  augment_shift: float = _DEFAULTS.augment_shift
  # Half the training images mirrored left to right: for symmetric classes (clothes), not digits.
  augment_flip: bool = _DEFAULTS.augment_flip
  training_loop: str = 'fit'
  precision: str = 'auto'  # bfloat16 where the CPU has it (precision.py); 12 epochs: same accuracy
  # None: the default above; 0: no validation; N: the last N training examples (N < their count).
  validation_examples: Optional[int] = None
  # Whether the exported signatures invert dark-on-light images (the data set decides: digits yes).
  normalize_polarity: bool = True

  def __post_init__(self):
    if self.epochs < 1:
      raise ValueError(f'epochs must be >= 1, got {self.epochs}')
    if self.batch_size < 1:
      raise ValueError(f'batch size must be >= 1, got {self.batch_size}')
    if not self.learning_rate > 0:
      raise ValueError(f'learning rate must be > 0, got {self.learning_rate}')
    if not 0 < self.final_learning_rate_fraction <= 1:
      raise ValueError('final learning-rate fraction must be in (0, 1]')
    if self.strategy not in STRATEGIES:
      raise ValueError(f'unknown strategy {self.strategy!r}; choose one of {", ".join(STRATEGIES)}')
    if self.tpu and self.strategy not in ('default', 'tpu'):
      raise ValueError(f'--tpu cannot be combined with --strategy {self.strategy}')
    if self.strategy == 'tpu' and not self.tpu:
      raise ValueError('--strategy tpu needs --tpu NAME_OR_GRPC_ADDRESS')

    if self.training_loop not in TRAINING_LOOPS:
      raise ValueError(
        f'unknown training loop {self.training_loop!r}; choose one of {", ".join(TRAINING_LOOPS)}'
      )
    if self.strategy == 'multi_worker' and self.training_loop == 'fit':
      raise ValueError(
        "--strategy multi_worker needs --training-loop custom: Keras 3's Model.fit "
        'fails under MultiWorkerMirroredStrategy (keras-team/keras#20585)'
      )
    if self.precision not in PRECISIONS:
      raise ValueError(
        f'unknown precision {self.precision!r}; choose one of {", ".join(PRECISIONS)}'
      )
    for name, limit in AUGMENTATION_LIMITS.items():
      value = getattr(self, name)
      if not 0 <= value < limit:
        raise ValueError(f'{name.replace("_", " ")} must be in [0, {limit:g}), got {value}')
    if self.validation_examples is not None and self.validation_examples < 0:
      raise ValueError(
        f'validation examples must be >= 0 (0 = no validation), got {self.validation_examples}'
      )

  def describe(self, policy: str, trained: int, held_out: int) -> str:
    """One line for the console: what this run trains, e.g. '55000 examples (5000 held out for
    validation), 16 epochs, mixed_bfloat16 (--precision auto), augmented: ±10°, zoom ±0.1,
    ±2 px'."""
    precision = f'{policy} (--precision auto)' if self.precision == 'auto' else policy
    held = f' ({held_out} held out for validation)' if held_out else ''
    parts = [
      f'{trained} examples{held}',
      f'{self.epochs} epoch{"" if self.epochs == 1 else "s"}',
      precision,
    ]
    if self.augment_rotation or self.augment_zoom or self.augment_shift:
      parts.append(
        f'augmented: ±{self.augment_rotation:g}°, zoom ±{self.augment_zoom:g}, '
        f'±{self.augment_shift:g} px'
      )
    if self.augment_flip:
      parts.append('mirrored left/right at random')
    return ', '.join(parts)

  def validation_split(self, training_examples: int) -> int:
    """How many of `training_examples` (the end of the split) are held out for validation."""
    if self.validation_examples is None:
      return min(DEFAULT_VALIDATION_EXAMPLES, training_examples // DEFAULT_VALIDATION_DIVISOR)
    if self.validation_examples and self.validation_examples >= training_examples:
      raise ValueError(
        f'--validation-examples {self.validation_examples} must be less than the number of '
        f'training examples ({training_examples}): they are held out of them '
        f'(0 = no validation split)'
      )
    return self.validation_examples

  def to_custom_config(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_custom_config(cls, custom_config: Optional[Dict[str, Any]]) -> 'TrainingConfig':
    known = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in (custom_config or {}).items() if k in known}
    # JSON round-trips turn ints into floats on some orchestrators.
    for name in ('epochs', 'batch_size', 'validation_examples', 'seed'):
      if values.get(name) is not None:
        values[name] = int(values[name])
    if 'augment_flip' in values:
      values['augment_flip'] = bool(values['augment_flip'])
    return cls(**values)
