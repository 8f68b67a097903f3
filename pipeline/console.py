"""Quiet console for pipeline runs: one line per component with its time; the rest on --verbose."""
import logging
import os
import sys
import time
import warnings
from typing import Callable, Dict, Optional


def silence_native_logs(verbose: bool) -> None:
  """Must run before TensorFlow is imported."""
  if not verbose:
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
    os.environ.setdefault('GRPC_VERBOSITY', 'ERROR')
    os.environ.setdefault('GLOG_minloglevel', '3')  # ML Metadata's C++ connection retries
    warnings.filterwarnings('ignore')


class ComponentProgress(logging.Handler):
  """Turns the orchestrator's log records into 'Component  12.3 s' lines."""

  def __init__(self, print_fn: Callable[[str], None] = print):
    super().__init__(logging.INFO)
    self._print = print_fn
    self.current: Optional[str] = None
    self.started: Dict[str, float] = {}
    self.seconds: Dict[str, float] = {}
    self.cached = set()
    self.announced = set()
    self.notes: Dict[str, str] = {}

  # What a person sees when a component starts for real (not when it is served from cache).
  STARTING = {
      'MnistExampleGen': 'MnistExampleGen: validating the MNIST files and writing TFRecords…',
      'Trainer': 'Trainer: training the seed CNN…',  # Keras' progress follows
      'Evaluator': 'Evaluator: TFMA on the eval split (candidate vs. last blessed model)…',
  }
  EXAMPLE_COUNTS = 'MnistExampleGen wrote %s'  # logged by components.mnist_example_gen

  def emit(self, record: logging.LogRecord) -> None:
    msg = record.msg
    if msg == 'Component %s is running.':
      self.current = record.args[0]
      self.started[self.current] = time.monotonic()
    elif (msg.startswith('Going to run a new execution') and self.current in self.STARTING
          and self.current not in self.announced):
      self.announced.add(self.current)
      self._print(self.STARTING[self.current])
    elif msg == 'A cached execution %d is used.' and self.current:
      self.cached.add(self.current)
    elif msg == self.EXAMPLE_COUNTS and self.current:
      self.notes[self.current] = f' ({record.args[0]})'
    elif msg == 'Component %s is finished.':
      node = record.args[0]
      self.seconds[node] = time.monotonic() - self.started.get(node, time.monotonic())
      note = ' (cached)' if node in self.cached else self.notes.get(node, '')
      self._print(f'{node:<28} {self.seconds[node]:7.1f} s{note}')
      self.current = None


def install(verbose: bool, progress: ComponentProgress) -> None:
  """Routes TFX's absl logs through `progress`; everything else only when verbose."""
  from absl import logging as absl_logging
  # Through absl's own flag: code that saves and restores absl verbosity (Keras' export does)
  # then restores INFO, not absl's WARNING default.
  absl_logging.set_verbosity(absl_logging.INFO)
  absl_logger = logging.getLogger('absl')
  absl_logger.addHandler(progress)
  if verbose:
    if not logging.getLogger().handlers:
      logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    return
  absl_logger.propagate = False
  quiet_python_logs()


def quiet_python_logs() -> None:
  """Only errors from Python loggers (TF's deprecation warnings and the like stay hidden)."""
  root = logging.getLogger()
  root.setLevel(logging.ERROR)
  root.addHandler(logging.NullHandler())  # no "last resort" printing of stray warnings
  for name in ('tensorflow', 'apache_beam', 'tensorflow_model_analysis'):
    logging.getLogger(name).setLevel(logging.ERROR)
