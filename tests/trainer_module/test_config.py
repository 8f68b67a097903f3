"""TrainingConfig validation and its round trip through the Trainer's custom_config."""

import json

import pytest

from trainer_module.config import TrainingConfig


def test_round_trip_through_json():
  config = TrainingConfig(epochs=3, batch_size=64, learning_rate=5e-4, strategy='mirrored')
  raw = json.loads(json.dumps(config.to_custom_config()))
  raw['epochs'] = 3.0  # some orchestrators hand numbers back as floats
  assert TrainingConfig.from_custom_config(raw) == config


@pytest.mark.parametrize(
  'kwargs, message',
  [
    ({'epochs': 0}, 'epochs must be >= 1'),
    ({'batch_size': 0}, 'batch size must be >= 1'),
    ({'learning_rate': 0}, 'learning rate must be > 0'),
    ({'strategy': 'horovod'}, 'unknown strategy'),
    ({'strategy': 'tpu'}, '--strategy tpu needs --tpu'),
    ({'strategy': 'mirrored', 'tpu': 'grpc://10.0.0.2:8470'}, 'cannot be combined'),
    ({'augment_rotation': -1}, r'augment rotation must be in \[0, 180\), got -1'),
    ({'augment_zoom': 1.0}, r'augment zoom must be in \[0, 1\)'),
    ({'augment_shift': float('nan')}, r'augment shift must be in \[0, 28\)'),
  ],
)
def test_rejects_bad_values(kwargs, message):
  with pytest.raises(ValueError, match=message):
    TrainingConfig(**kwargs)


@pytest.mark.parametrize(
  'kwargs, message',
  [
    ({'training_loop': 'eager'}, "unknown training loop 'eager'; choose one of fit, custom"),
    ({'precision': 'float8'}, "unknown precision 'float8'; choose one of auto, float32"),
    ({'validation_examples': -1}, r'validation examples must be >= 0 \(0 = no validation\)'),
    ({'strategy': 'multi_worker'}, '--strategy multi_worker needs --training-loop custom'),
  ],
)
def test_rejects_bad_trainer_options(kwargs, message):
  with pytest.raises(ValueError, match=message):
    TrainingConfig(**kwargs)


def test_new_options_round_trip_and_default():
  assert (TrainingConfig().training_loop, TrainingConfig().precision) == ('fit', 'auto')
  config = TrainingConfig(
    training_loop='custom',
    precision='mixed_bfloat16',
    validation_examples=1000,
    strategy='multi_worker',
  )
  raw = json.loads(json.dumps(config.to_custom_config()))
  raw['validation_examples'] = 1000.0
  assert TrainingConfig.from_custom_config(raw) == config
  # A config written before these options existed reads as the defaults.
  assert TrainingConfig.from_custom_config({'epochs': 2}) == TrainingConfig(epochs=2)


@pytest.mark.parametrize(
  'validation_examples, training_examples, held_out',
  [
    (None, 60000, 5000),  # the default: MNIST's last 5,000 training examples
    (None, 55000, 4583),  # 1/12 of a smaller split (--train-examples)
    (None, 3000, 250),
    (None, 11, 0),
    (0, 60000, 0),
    (10000, 60000, 10000),
    (2999, 3000, 2999),
  ],
)
def test_validation_split(validation_examples, training_examples, held_out):
  config = TrainingConfig(validation_examples=validation_examples)
  assert config.validation_split(training_examples) == held_out


@pytest.mark.parametrize('validation_examples', [3000, 5000])
def test_validation_split_must_leave_training_examples(validation_examples):
  config = TrainingConfig(validation_examples=validation_examples)
  with pytest.raises(
    ValueError,
    match=f'--validation-examples {validation_examples} must be less than '
    r'the number of training examples \(3000\)',
  ):
    config.validation_split(3000)


def _training_from(*argv):
  import argparse

  from pipeline import config as config_lib
  from pipeline import flags

  parser = argparse.ArgumentParser()
  flags.add_arguments(parser)
  return config_lib.training_from_args(parser.parse_args(list(argv)))


def test_trainer_flags_reach_the_config():
  assert _training_from() == TrainingConfig()
  assert _training_from(
    '--training-loop',
    'custom',
    '--precision',
    'mixed_bfloat16',
    '--validation-examples',
    '0',
    '--strategy',
    'multi_worker',
  ) == TrainingConfig(
    training_loop='custom',
    precision='mixed_bfloat16',
    validation_examples=0,
    strategy='multi_worker',
  )
  assert _training_from('--precision', 'auto').precision == 'auto'


def test_trainer_flags_that_clash_are_refused_before_any_work():
  with pytest.raises(
    ValueError,
    match=r'--validation-examples 1000 must be less than the number '
    r'of training examples \(1000\)',
  ):
    _training_from('--train-examples', '1000', '--validation-examples', '1000')
  with pytest.raises(ValueError, match='needs --training-loop custom'):
    _training_from('--strategy', 'multi_worker')
  assert _training_from('--train-examples', '1000').validation_split(1000) == 83


@pytest.mark.parametrize(
  'argv', [['--validation-examples', '-1'], ['--training-loop', 'eager'], ['--precision', 'bf16']]
)
def test_bad_trainer_flags_are_usage_errors(argv, capsys):
  with pytest.raises(SystemExit) as info:
    _training_from(*argv)
  assert info.value.code == 2
  assert argv[0] in capsys.readouterr().err


def test_the_console_line_says_what_is_trained():
  config = TrainingConfig(
    epochs=16, precision='auto', augment_rotation=10, augment_zoom=0.1, augment_shift=2
  )
  assert config.describe('mixed_bfloat16', 55000, 5000) == (
    '55000 examples (5000 held out for validation), 16 epochs, mixed_bfloat16 (--precision auto), '
    'augmented: ±10°, zoom ±0.1, ±2 px'
  )
  plain = TrainingConfig(
    epochs=1, precision='float32', augment_rotation=0, augment_zoom=0, augment_shift=0
  )
  assert plain.describe('float32', 3000, 0) == '3000 examples, 1 epoch, float32'
  mirrored = TrainingConfig(
    epochs=2,
    precision='float32',
    augment_rotation=0,
    augment_zoom=0,
    augment_shift=0,
    augment_flip=True,
  )
  assert (
    mirrored.describe('float32', 3000, 0)
    == '3000 examples, 2 epochs, float32, mirrored left/right at random'
  )


def test_flip_survives_the_custom_config_round_trip():
  config = TrainingConfig(augment_flip=True)
  assert (
    TrainingConfig.from_custom_config(json.loads(json.dumps(config.to_custom_config()))) == config
  )
  assert (
    TrainingConfig.from_custom_config({'augment_flip': 1.0}).augment_flip is True
  )  # a KFP double
  assert TrainingConfig.from_custom_config({}).augment_flip is False  # MNIST's default
