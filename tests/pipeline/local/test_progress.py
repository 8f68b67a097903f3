"""ComponentProgress: one line per component from the orchestrator's own log records."""

import logging

from components.lib import names
from pipeline.local import progress as progress_lib


def _record(msg, *args):
  return logging.LogRecord('absl', logging.INFO, __file__, 1, msg, args or None, None)


def _run(progress, node, cached=False):
  progress.emit(_record('Component %s is running.', node))
  if cached:
    progress.emit(_record('A cached execution %d is used.', 7))
  else:
    progress.emit(_record('Going to run a new execution %s', 8))
  progress.emit(_record('Component %s is finished.', node))


def test_a_component_that_really_runs_is_announced_and_reported():
  printed, started = [], []
  progress = progress_lib.ComponentProgress(printed.append, on_start=started.append)
  _run(progress, 'Evaluator')
  assert printed[0] == progress_lib.ComponentProgress.STARTING[names.EVALUATOR]
  assert printed[1].startswith('Evaluator') and printed[1].endswith(' s')
  assert started == ['Evaluator']


def test_a_cached_component_starts_nothing():
  """The runner starts the ServingCheck's probe as the Evaluator starts: not for a cached one."""
  printed, started = [], []
  progress = progress_lib.ComponentProgress(printed.append, on_start=started.append)
  _run(progress, 'Evaluator', cached=True)
  assert started == []
  assert printed == [f'{"Evaluator":<28} {progress.seconds["Evaluator"]:7.1f} s (cached)']
