"""What a local run prints: one line per component with its time, and what each is doing as it
starts; TFX's, Beam's and TensorFlow's own logs only with --verbose (secrets masked either way)."""

import logging
import sys
import time
from typing import Callable, Dict, Optional, Set

from absl import logging as absl_logging

from components.lib import names
from pipeline import console
from pipeline.secrets import RedactingFilter
from trainer_module.config import TRAINING_PLAN_LOG


class ComponentProgress(logging.Handler):
  """Turns the orchestrator's log records into 'Component  12.3 s' lines."""

  def __init__(
    self,
    print_fn: Callable[[str], None] = print,
    on_start: Optional[Callable[[str], None]] = None,
    starting: Optional[Dict[str, str]] = None,
  ):
    super().__init__(logging.INFO)
    self._print = print_fn
    self._on_start = on_start  # called with a component's id when it starts for real
    self.starting = {**self.STARTING, **(starting or {})}  # this run's own STARTING lines
    self.current: Optional[str] = None
    self.started: Dict[str, float] = {}
    self.seconds: Dict[str, float] = {}
    self.cached: Set[str] = set()
    self.announced: Set[str] = set()
    self.notes: Dict[str, str] = {}

  # What a person sees when a component starts for real (not when it is served from cache).
  STARTING = {
    names.EXAMPLE_GEN: f'{names.EXAMPLE_GEN}: validating the IDX files and writing TFRecords…',
    names.TRAINER: f'{names.TRAINER}: training the seed CNN…',  # Keras' progress follows
    names.EVALUATOR: f'{names.EVALUATOR}: TFMA on the eval split (candidate vs. last blessed '
    'model)…',
    names.SERVING_CHECK: f'{names.SERVING_CHECK}: loading the candidate in a fresh process, as a '
    'model server would…',
    names.INFER_EXAMPLE_GEN: f'{names.INFER_EXAMPLE_GEN}: checking the new pictures (--infer-dir)…',
    names.BULK_INFERRER: f'{names.BULK_INFERRER}: labelling them with the model, if blessed…',
  }
  # Shown on the component's line.
  NOTES = (names.EXAMPLE_COUNTS_LOG, names.SERVING_VERDICT_LOG, names.PREDICTIONS_LOG)

  def emit(self, record: logging.LogRecord) -> None:
    msg = record.msg
    first = str(record.args[0]) if isinstance(record.args, tuple) and record.args else ''
    if msg == 'Component %s is running.':
      self.current = first
      self.started[first] = time.monotonic()
    elif (
      msg.startswith('Going to run a new execution')
      and self.current
      and self.current not in self.announced
    ):
      self.announced.add(self.current)
      if self.current in self.starting:
        self._print(self.starting[self.current])
      if self._on_start:
        self._on_start(self.current)
    elif msg == TRAINING_PLAN_LOG:
      self._print(f'Trainer: {first}')
    elif msg == 'A cached execution %d is used.' and self.current:
      self.cached.add(self.current)
    elif msg in self.NOTES and self.current:
      self.notes[self.current] = f' ({first})'
    elif msg == 'Component %s is finished.':
      node = first
      self.seconds[node] = time.monotonic() - self.started.get(node, time.monotonic())
      note = ' (cached)' if node in self.cached else self.notes.get(node, '')
      self._print(f'{node:<28} {self.seconds[node]:7.1f} s{note}')
      self.current = None


def install(verbose: bool, progress: ComponentProgress) -> None:
  """Routes TFX's absl logs through `progress`; everything else only when verbose."""
  # Through absl's own flag: code that saves and restores absl verbosity (Keras' export does)
  # then restores INFO, not absl's WARNING default.
  absl_logging.set_verbosity(absl_logging.INFO)
  absl_logger = logging.getLogger('absl')
  absl_logger.addHandler(progress)
  if verbose:
    if not logging.getLogger().handlers:
      logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    for handler in logging.getLogger().handlers:  # also those made before protect_output()
      if not any(isinstance(f, RedactingFilter) for f in handler.filters):
        handler.addFilter(RedactingFilter())
    return
  absl_logger.propagate = False
  console.quiet_python_logs()
