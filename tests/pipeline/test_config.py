"""CLI flags → PipelineConfig → create_pipeline: one config object, plumbed everywhere."""

import argparse
import dataclasses
import json
import os

import pytest
import tensorflow_model_analysis as tfma
from google.protobuf import json_format

from components.baseline_resolver import LatestBlessedOtherModelStrategy
from components.lib import datasets
from components.lib.project import PROJECT_ROOT
from components.mnist_trainer import RUN_FN
from pipeline import config as config_lib
from pipeline import flags
from pipeline import paths as paths_lib
from pipeline.pipeline import create_pipeline
from trainer_module.config import TrainingConfig


def _parse(*argv):
  parser = argparse.ArgumentParser()
  flags.add_arguments(parser)
  return parser.parse_args(flags.join_option_values(list(argv)))


def _config(*argv, data_dir='/data/mnist'):
  return config_lib.config_from_args(_parse(*argv), data_dir, '/out/root', '/out/serving')


def test_defaults():
  config = _config()
  assert config.training == TrainingConfig()
  assert config.accuracy_threshold == 0.99
  assert config.train_examples is None and config.eval_examples is None
  assert config.beam_args == ()
  assert config.enable_cache
  assert config.pipeline_name == 'mnist-tfx'


def test_every_flag_reaches_the_config():
  config = _config(
    '--epochs',
    '3',
    '--batch-size',
    '64',
    '--learning-rate',
    '0.002',
    '--train-examples',
    '1000',
    '--eval-examples',
    '500',
    '--accuracy-threshold',
    '0.95',
    '--strategy',
    'mirrored',
    '--seed',
    '7',
    '--augment-rotation',
    '5',
    '--augment-zoom',
    '0.05',
    '--augment-shift',
    '1.5',
    '--beam-args',
    '--direct_num_workers=2 --direct_running_mode=multi_processing',
    '--no-cache',
  )
  assert not config.enable_cache
  assert config.training == TrainingConfig(
    epochs=3,
    batch_size=64,
    learning_rate=0.002,
    strategy='mirrored',
    seed=7,
    augment_rotation=5,
    augment_zoom=0.05,
    augment_shift=1.5,
  )
  assert (config.train_examples, config.eval_examples) == (1000, 500)
  assert config.accuracy_threshold == 0.95
  assert config.beam_args == ('--direct_num_workers=2', '--direct_running_mode=multi_processing')


def test_tpu_flag_implies_tpu_strategy():
  config = _config('--tpu', 'grpc://10.1.2.3:8470')
  assert config.training.strategy == 'tpu' and config.training.tpu == 'grpc://10.1.2.3:8470'


@pytest.mark.parametrize(
  'argv',
  [
    ['--epochs', '0'],
    ['--batch-size', '-1'],
    ['--train-examples', '0'],
    ['--accuracy-threshold', '1.5'],
    ['--strategy', 'horovod'],
    ['--augment-rotation', '180'],
    ['--augment-zoom', '-0.1'],
    ['--augment-shift', 'nan'],
    ['--seed', 'x'],
  ],
)
def test_bad_flags_are_usage_errors(argv, capsys):
  with pytest.raises(SystemExit) as info:
    _parse(*argv)
  assert info.value.code == 2


def test_local_paths_are_under_the_output_dir(tmp_path, monkeypatch):
  paths = paths_lib.LocalPaths.under(str(tmp_path / 'x'))
  assert paths.metadata_path == str(tmp_path / 'x' / 'metadata.sqlite')
  assert paths.serving_dir == str(tmp_path / 'x' / 'serving')
  assert paths.reports_dir == str(tmp_path / 'x' / 'reports')
  assert paths.pipeline_root.startswith(str(tmp_path / 'x'))
  monkeypatch.chdir(tmp_path)  # the default is the project's, wherever the command starts
  assert paths_lib.LocalPaths.under().output_dir == os.path.join(PROJECT_ROOT, 'tfx_output')
  assert os.path.isfile(os.path.join(PROJECT_ROOT, 'local_runner.py'))


def test_demo_is_the_smoke_runs_settings_and_dir_and_given_flags_stand(tmp_path, monkeypatch):
  import local_runner

  monkeypatch.chdir(tmp_path)
  demo = local_runner.parse_args(['--demo'])
  assert (demo.train_examples, demo.eval_examples, demo.epochs, demo.accuracy_threshold) == (
    10000,
    1000,
    2,
    0.9,
  )
  assert paths_lib.output_dir_of(demo) == os.path.join(PROJECT_ROOT, 'demo_output')
  given = local_runner.parse_args(['--epochs', '3', '--demo', '--output-dir', 'x'])
  assert (given.epochs, given.train_examples) == (3, 10000)
  assert paths_lib.output_dir_of(given) == 'x'
  plain = local_runner.parse_args([])
  assert (plain.train_examples, plain.epochs, plain.accuracy_threshold) == (None, None, None)
  assert paths_lib.output_dir_of(plain) == paths_lib.DEFAULT_OUTPUT_DIR


def test_create_pipeline_wiring():
  config = _config(
    '--epochs',
    '2',
    '--accuracy-threshold',
    '0.97',
    '--train-examples',
    '100',
    '--beam-args',
    '--direct_num_workers=2',
  )
  pipeline = create_pipeline(config)
  by_id = {c.id: c for c in pipeline.components}
  assert set(by_id) == {
    'MnistExampleGen',
    'Trainer',
    'LatestBlessedModelResolver',
    'Evaluator',
    'ServingCheck',
    'Pusher',
    'ImportSchemaGen',
    'StatisticsGen',
    'SchemaGen',
    'ExampleValidator',
  }
  assert pipeline.pipeline_info.pipeline_name == 'mnist-tfx'
  assert pipeline.beam_pipeline_args == ['--direct_num_workers=2']

  example_gen = by_id['MnistExampleGen']
  assert example_gen.exec_properties['input_base'] == '/data/mnist'

  trainer = by_id['Trainer'].exec_properties
  assert trainer['run_fn'] == RUN_FN and not trainer.get('module_file')
  custom_config = json.loads(trainer['custom_config'])
  assert 'epochs' not in custom_config and trainer['epochs'] == 2  # one slot per parameter
  assert TrainingConfig.from_custom_config(custom_config) == TrainingConfig()

  evaluator = by_id['Evaluator'].exec_properties
  assert evaluator['accuracy_threshold'] == 0.97
  eval_config = json_format.Parse(evaluator['eval_config'], tfma.EvalConfig())
  threshold = eval_config.metrics_specs[0].metrics[0].threshold
  assert not threshold.HasField('value_threshold')  # the bound has one slot: accuracy_threshold
  assert threshold.change_threshold.absolute.value < 0  # "no worse than the blessed model"

  pusher = by_id['Pusher'].exec_properties['push_destination']
  assert '/out/serving' in str(pusher)
  # The Pusher needs both blessings: the Evaluator's and the serving check's.
  assert by_id['Pusher'].inputs['model_blessing'].producer_component_id == 'Evaluator'
  assert by_id['Pusher'].inputs['infra_blessing'].producer_component_id == 'ServingCheck'
  assert by_id['ServingCheck'].exec_properties['max_latency_ms'] == 1000.0
  assert {k: c.producer_component_id for k, c in by_id['ServingCheck'].inputs.items()} == {
    'examples': 'MnistExampleGen',
    'model': 'Trainer',
    'evaluation': 'Evaluator',
  }
  # The Evaluator compares against the resolver's latest blessed model other than the candidate.
  assert (
    by_id['Evaluator'].inputs['baseline_model'].producer_component_id
    == 'LatestBlessedModelResolver'
  )
  resolver = by_id['LatestBlessedModelResolver']
  assert resolver.exec_properties['resolver_class'] is LatestBlessedOtherModelStrategy
  assert resolver.raw_inputs['candidate'].producer_component_id == 'Trainer'


def test_the_data_set_decides_the_served_polarity_rule():
  """Digits are inverted when dark on light; Fashion-MNIST's bright items are not digits."""
  assert _config().training.normalize_polarity is True
  assert _config('--dataset', 'fashion-mnist').training.normalize_polarity is False
  assert _config('--dataset', 'idx').training.normalize_polarity is False


@pytest.mark.parametrize('name', list(datasets.DATASETS))
def test_each_data_set_brings_its_own_defaults(name):
  """A flag not given takes the data set's default (components/lib/datasets.py); a flag given
  wins."""
  dataset = datasets.get(name)
  config = _config('--dataset', name)
  defaults = dataset.training_defaults
  assert {
    k: getattr(config.training, k) for k in config_lib.TRAINING_DEFAULT_FLAGS
  } == dataclasses.asdict(defaults)
  assert config.accuracy_threshold == dataset.default_accuracy_threshold
  given = _config(
    '--dataset', name, '--epochs', '3', '--augment-shift', '1', '--accuracy-threshold', '0.7'
  )
  assert (given.training.epochs, given.training.augment_shift, given.accuracy_threshold) == (
    3,
    1,
    0.7,
  )
  assert given.training.augment_rotation == defaults.augment_rotation
  assert given.training.augment_flip == defaults.augment_flip
  assert _config('--dataset', name, '--augment-flip').training.augment_flip is True
  assert _config('--dataset', name, '--no-augment-flip').training.augment_flip is False


def test_fashion_mnist_trains_without_the_digit_augmentation():
  fashion = _config('--dataset', 'fashion-mnist').training
  assert not (fashion.augment_rotation or fashion.augment_zoom or fashion.augment_shift)
  assert fashion.augment_flip  # clothes look the same mirrored
  assert not _config().training.augment_flip  # digits do not
  assert _config().training == TrainingConfig()  # MNIST's are TrainingConfig's own


def test_infer_dir_adds_the_bulk_inferrer_on_the_blessing_and_a_predictions_writer(tmp_path):
  config = _config('--dataset', 'images', '--infer-dir', str(tmp_path), data_dir=str(tmp_path))
  assert config.infer_dir == str(tmp_path)
  by_id = {c.id: c for c in create_pipeline(config).components}
  assert {'InferExampleGen', 'BulkInferrer', 'PredictionsWriter'} <= set(by_id)
  inputs = {
    key: channel.producer_component_id for key, channel in by_id['BulkInferrer'].inputs.items()
  }
  assert inputs == {
    'examples': 'InferExampleGen',
    'model': 'Trainer',
    'model_blessing': 'Evaluator',
  }
  writer = {k: c.producer_component_id for k, c in by_id['PredictionsWriter'].inputs.items()}
  assert writer == {
    'inference_result': 'BulkInferrer',
    'model_blessing': 'Evaluator',
    'examples': 'MnistExampleGen',
  }
  assert by_id['InferExampleGen'].exec_properties['input_base'] == str(tmp_path)
  relative = _config('--dataset', 'csv', '--infer-dir', 'new')
  assert relative.infer_dir == os.path.abspath('new')  # ML Metadata records where it was
  plain = {c.id for c in create_pipeline(_config('--dataset', 'images')).components}
  assert not plain & {'InferExampleGen', 'BulkInferrer', 'PredictionsWriter'}


@pytest.mark.parametrize('dataset', ['mnist', 'fashion-mnist', 'idx'])
def test_infer_dir_is_refused_with_mnist_style_data(dataset):
  with pytest.raises(ValueError, match=f'--infer-dir needs --dataset images or csv .*{dataset}'):
    _config('--dataset', dataset, '--infer-dir', '/new')


def test_the_schema_of_data_with_its_own_classes_is_given_the_examples():
  """MNIST's pipeline is as before (ImportSchemaGen has no input); a folder's or a CSV's
  ImportSchemaGen reads the Examples' classes for the label's domain."""
  for dataset, inputs in (('mnist', {}), ('images', {'examples': 'MnistExampleGen'})):
    by_id = {c.id: c for c in create_pipeline(_config('--dataset', dataset)).components}
    found = {k: c.producer_component_id for k, c in by_id['ImportSchemaGen'].inputs.items()}
    assert found == inputs, dataset
