"""TrainingConfig validation and its round trip through the Trainer's custom_config."""
import json

import pytest

from trainer_module.config import TrainingConfig


def test_round_trip_through_json():
  config = TrainingConfig(epochs=3, batch_size=64, learning_rate=5e-4, strategy='mirrored')
  raw = json.loads(json.dumps(config.to_custom_config()))
  raw['epochs'] = 3.0  # some orchestrators hand numbers back as floats
  assert TrainingConfig.from_custom_config(raw) == config


@pytest.mark.parametrize('kwargs, message', [
    ({'epochs': 0}, 'epochs must be >= 1'),
    ({'batch_size': 0}, 'batch size must be >= 1'),
    ({'learning_rate': 0}, 'learning rate must be > 0'),
    ({'strategy': 'horovod'}, 'unknown strategy'),
    ({'strategy': 'tpu'}, '--strategy tpu needs --tpu'),
    ({'strategy': 'mirrored', 'tpu': 'grpc://10.0.0.2:8470'}, 'cannot be combined'),
])
def test_rejects_bad_values(kwargs, message):
  with pytest.raises(ValueError, match=message):
    TrainingConfig(**kwargs)
