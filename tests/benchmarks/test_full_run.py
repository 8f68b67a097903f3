"""benchmarks/full_run.py reads the runner's own component lines."""

import importlib.util
import os

from tests.conftest import REPO

_spec = importlib.util.spec_from_file_location(
  'full_run', os.path.join(REPO, 'benchmarks', 'full_run.py')
)
assert _spec is not None and _spec.loader is not None
full_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(full_run)


def test_component_seconds_from_a_runs_output():
  stdout = '\n'.join(
    [
      'MNIST TFX pipeline: data /d → /o',
      'LatestBlessedModelResolver       0.0 s',
      'MnistExampleGen                  7.3 s (train 60000, eval 10000)',
      'ImportSchemaGen                  0.1 s',
      'StatisticsGen                   12.5 s',
      'Trainer: training the seed CNN…',
      '469/469 - 21s - 44ms/step - accuracy: 0.9555',
      'Trainer                        240.8 s (cached)',
      'ServingCheck                     9.8 s (servable, p99 1.1 ms for one image)',
      'Total time:      259 s',
    ]
  )
  assert full_run.component_seconds(stdout) == {
    'LatestBlessedModelResolver': 0.0,
    'MnistExampleGen': 7.3,
    'ImportSchemaGen': 0.1,
    'StatisticsGen': 12.5,
    'ServingCheck': 9.8,
  }


def _run(seed, accuracy, wall=250.0, exit_code=0, share=0.01):
  return {
    'seed': seed,
    'accuracy': accuracy,
    'wall_seconds': wall,
    'exit_code': exit_code,
    'validation_share': share,
  }


def test_goal_is_the_median_accuracy_of_the_seeds_and_the_slowest_run():
  checks = full_run.judge([_run(1, 0.9958), _run(2, 0.9961), _run(3, 0.9966)])
  assert all(checks.values()), checks
  assert 'median test accuracy 0.9961 (0.9958, 0.9961, 0.9966) >= 0.996' in checks

  checks = full_run.judge([_run(1, 0.9958), _run(2, 0.9959), _run(3, 0.9970)])
  assert [c for c, ok in checks.items() if not ok] == [
    'median test accuracy 0.9959 (0.9958, 0.9959, 0.9970) >= 0.996'
  ]

  checks = full_run.judge([_run(1, 0.9965), _run(2, 0.9965, wall=301.0), _run(3, 0.9965)])
  assert [c for c, ok in checks.items() if not ok] == ['slowest wall 301 s <= 300 s']

  checks = full_run.judge([_run(1, 0.9965, exit_code=3), _run(2, 0.9965, share=0.2)])
  assert sorted(c for c, ok in checks.items() if not ok) == [
    'data validation at most 20.0% of the rest <= 10%',
    'exit 0 (blessed and pushed) every run',
  ]
