"""benchmarks/full_run.py reads the runner's own component lines."""
import importlib.util
import os

from tests.conftest import REPO

_spec = importlib.util.spec_from_file_location('full_run', os.path.join(REPO, 'benchmarks', 'full_run.py'))
full_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(full_run)


def test_component_seconds_from_a_runs_output():
  stdout = '\n'.join([
      'MNIST TFX pipeline: data /d → /o',
      'LatestBlessedModelResolver       0.0 s',
      'MnistExampleGen                  7.3 s (train 60000, eval 10000)',
      'ImportSchemaGen                  0.1 s',
      'StatisticsGen                   12.5 s',
      'Trainer: training the seed CNN…',
      '469/469 - 21s - 44ms/step - accuracy: 0.9555',
      'Trainer                        240.8 s (cached)',
      'ServingCheck                     9.8 s (servable, p99 1.1 ms for one image)',
      'Total time:      259 s'])
  assert full_run.component_seconds(stdout) == {
      'LatestBlessedModelResolver': 0.0, 'MnistExampleGen': 7.3, 'ImportSchemaGen': 0.1,
      'StatisticsGen': 12.5, 'ServingCheck': 9.8}
