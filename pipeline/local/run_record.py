"""What a local run records about itself on its pipeline_run context in ML Metadata, beside what
TFX records: who runs it and how it ended (so that a reader can tell a run still going from one
whose process was killed), and how the model was made beyond its settings (library versions,
this project's git commit, the machine, the total time). The keys live here; this module only
builds the values (pipeline/local/run.py writes them, inspection/ reads them), so no TFX here.

Process identity uses psutil: a pid alone could be reused by a later process or after a reboot,
so a run also records when its process started, and a process is the runner only if both match.
"""

import json
import os
import platform
import socket
import subprocess
from importlib import metadata as importlib_metadata
from typing import Any, Dict, Optional

import psutil

from components.lib.project import PROJECT_ROOT

# Who runs it, written before the first component.
RUNNER_PID, RUNNER_HOST, RUNNER_STARTED = 'runner_pid', 'runner_host', 'runner_started'
# Runs recorded before psutil: the start in clock ticks since boot (/proc/<pid>/stat).
RUNNER_START_TICKS = 'runner_start_ticks'
# How it ended, written again when the run ends: one of the states below.
RUN_STATE = 'run_state'
RUNNING, COMPLETE, FAILED, INTERRUPTED = 'running', 'complete', 'failed', 'interrupted'
# How the model was made, written when the run ends.
VERSIONS, GIT_COMMIT, MACHINE, TOTAL_SECONDS = 'versions', 'git_commit', 'machine', 'total_seconds'
DISTRIBUTIONS = (
  ('TensorFlow', 'tensorflow'),
  ('TFX', 'tfx'),
  ('Beam', 'apache-beam'),
  ('TFMA', 'tensorflow-model-analysis'),
  ('MLMD', 'ml-metadata'),
  ('Keras', 'keras'),
  ('Python', None),
)
_SAME_START_S = 0.05  # psutil reports a start time to the clock tick (10 ms)


def this_process() -> Dict[str, Any]:
  """The runner's identity as recorded on its run."""
  return {
    RUNNER_PID: os.getpid(),
    RUNNER_HOST: socket.gethostname(),
    RUNNER_STARTED: psutil.Process().create_time(),
  }


def _recorded_start(runner: Dict[str, Any]) -> Optional[float]:
  if runner.get(RUNNER_STARTED):
    return float(runner[RUNNER_STARTED])
  if runner.get(RUNNER_START_TICKS):  # an older record: ticks since this machine's boot
    return psutil.boot_time() + int(runner[RUNNER_START_TICKS]) / os.sysconf('SC_CLK_TCK')
  return None


def process_alive(runner: Dict[str, Any]) -> Optional[bool]:
  """Whether the recorded runner process still runs; None when this machine cannot tell (no
  identity recorded, or it ran on another host)."""
  pid = runner.get(RUNNER_PID)
  if not pid or runner.get(RUNNER_HOST) != socket.gethostname():
    return None
  try:
    process = psutil.Process(int(pid))
    if process.status() == psutil.STATUS_ZOMBIE:
      return False
    started = process.create_time()
  except (psutil.NoSuchProcess, ValueError, OverflowError):
    return False
  except psutil.AccessDenied:
    return True  # it exists; whose it is cannot be told
  recorded = _recorded_start(runner)
  return recorded is None or abs(started - recorded) < _SAME_START_S


def end_values(state: str, seconds: float) -> Dict[str, Any]:
  """What a run writes when it ends: its state, and how its model was made."""
  return {
    RUN_STATE: state,
    TOTAL_SECONDS: round(seconds, 1),
    VERSIONS: json.dumps(versions()),
    MACHINE: json.dumps(machine()),
    GIT_COMMIT: git_commit() or 'unknown (not a git checkout)',
  }


def versions() -> Dict[str, str]:
  """The versions of the libraries that make the model; importlib.metadata reads the installed
  distributions' records, so this imports none of them."""
  found = {}
  for label, distribution in DISTRIBUTIONS:
    if distribution is None:
      found[label] = platform.python_version()
      continue
    try:
      found[label] = importlib_metadata.version(distribution)
    except importlib_metadata.PackageNotFoundError:
      found[label] = 'not installed'
  return found


def git_commit(root: str = PROJECT_ROOT) -> Optional[str]:
  """HEAD's commit, with ' (dirty)' when tracked files differ from it; None outside a checkout."""

  def git(*args):
    return subprocess.run(
      ['git', '-C', root, *args], capture_output=True, text=True, timeout=10, check=False
    )

  try:
    head = git('rev-parse', 'HEAD')
    if head.returncode != 0:
      return None
    dirty = git('status', '--porcelain', '--untracked-files=no').stdout.strip()
  except (OSError, subprocess.SubprocessError):
    return None
  return head.stdout.strip() + (' (dirty)' if dirty else '')


def machine() -> Dict[str, Any]:
  return {'host': socket.gethostname(), 'platform': platform.platform(), 'cpus': os.cpu_count()}
