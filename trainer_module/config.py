"""Training hyperparameters: the one object passed from the CLI, through the Trainer's
custom_config, to run_fn. Kept free of TensorFlow imports so the CLI stays fast."""
import dataclasses
from typing import Any, Dict, Optional

STRATEGIES = ('default', 'mirrored', 'multi_worker', 'tpu')


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
  epochs: int = 12
  batch_size: int = 128
  learning_rate: float = 1e-3
  # Cosine decay of the learning rate to this fraction of its start over all epochs.
  final_learning_rate_fraction: float = 0.01
  strategy: str = 'default'
  tpu: Optional[str] = None
  shuffle_seed: Optional[int] = None

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

  def to_custom_config(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_custom_config(cls, custom_config: Optional[Dict[str, Any]]) -> 'TrainingConfig':
    known = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in (custom_config or {}).items() if k in known}
    # JSON round-trips turn ints into floats on some orchestrators.
    for name in ('epochs', 'batch_size'):
      if name in values:
        values[name] = int(values[name])
    return cls(**values)
