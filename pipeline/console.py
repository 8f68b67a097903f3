"""The console every command shares: native libraries' logs kept quiet, Python's loggers down
to errors, and a closed pipe (`… | head -1`) ended quietly. What a run prints per component is
pipeline/local/progress.py; masking secrets is pipeline/secrets.py."""

import contextlib
import logging
import os
import sys
import warnings
from typing import Callable


def silence_native_logs(verbose: bool) -> None:
  """Must run before TensorFlow is imported."""
  if not verbose:
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
    os.environ.setdefault('GRPC_VERBOSITY', 'ERROR')
    os.environ.setdefault('GLOG_minloglevel', '3')  # ML Metadata's C++ connection retries
    warnings.filterwarnings('ignore')
    os.environ.setdefault('PYTHONWARNINGS', 'ignore')  # Beam's worker processes, the probe


def quiet_python_logs() -> None:
  """Only errors from Python loggers (TF's deprecation warnings and the like stay hidden)."""
  root = logging.getLogger()
  root.setLevel(logging.ERROR)
  root.addHandler(logging.NullHandler())  # no "last resort" printing of stray warnings
  for name in ('tensorflow', 'apache_beam', 'tensorflow_model_analysis'):
    logging.getLogger(name).setLevel(logging.ERROR)


def reader_went_away() -> int:
  """For `… | head -1`: the reader closed the pipe, which is no error of ours. Quiet: stdout goes
  to /dev/null so that Python's final flush has nowhere to fail."""
  with contextlib.suppress(OSError, ValueError):
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.__stdout__.fileno() if sys.__stdout__ else 1)
  return 0


def closed_pipe_safe(main: Callable[[], int]) -> int:
  """Runs a command; a reader that closes the pipe early ends it quietly, exit 0. Every entry
  point (the mnist-tfx dispatcher, each `python -m` form) goes through here."""
  try:
    code = main()
    sys.stdout.flush()  # a closed pipe shows here at the latest
    return code
  except BrokenPipeError:
    return reader_went_away()


def printable(text: str) -> str:
  """`text` with each character a terminal would act on (a newline, an escape) written as its
  escape: an error line that echoes what a person typed stays one line, and inert."""
  return ''.join(c if c.isprintable() else c.encode('unicode_escape').decode() for c in text)
