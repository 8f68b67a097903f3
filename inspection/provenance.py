"""How a run was made beyond its settings: the versions of the libraries that made it, the git
commit of this project (marked dirty when tracked files differ from it), the machine, and the
total time. A local run records them on its pipeline_run context when it ends (pipeline/local.py's
summary), so the report and `compare` read them from the store like everything else. Reading the
versions costs no import: importlib.metadata reads the installed distributions' records."""
import json
import os
import platform
import socket
import subprocess
from importlib import metadata as importlib_metadata
from typing import Any, Dict, Optional
from components.lib import mlmd

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DISTRIBUTIONS = (('TensorFlow', 'tensorflow'), ('TFX', 'tfx'), ('Beam', 'apache-beam'),
                 ('TFMA', 'tensorflow-model-analysis'), ('MLMD', 'ml-metadata'), ('Keras', 'keras'),
                 ('Python', None))
VERSIONS, GIT_COMMIT, MACHINE, TOTAL_SECONDS = 'versions', 'git_commit', 'machine', 'total_seconds'


def versions() -> Dict[str, str]:
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
    return subprocess.run(['git', '-C', root, *args], capture_output=True, text=True, timeout=10)
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


def record(store, run_context, total_seconds: float) -> None:
  """Writes this process's versions, commit, machine and the run's total time on its context."""
  values = {VERSIONS: json.dumps(versions()), MACHINE: json.dumps(machine()),
            GIT_COMMIT: git_commit() or 'unknown (not a git checkout)'}
  for key, value in values.items():
    run_context.custom_properties[key].string_value = value
  run_context.custom_properties[TOTAL_SECONDS].double_value = round(total_seconds, 1)
  store.put_contexts([run_context])


def read(run_context) -> Dict[str, Any]:
  """What record() wrote, as plain values; {} for runs that recorded none (older runs, Kubeflow)."""
  found: Dict[str, Any] = {}
  for key in (VERSIONS, MACHINE):
    text = mlmd.custom_value(run_context, key)
    if text:
      found[key] = json.loads(text)
  if mlmd.custom_value(run_context, GIT_COMMIT):
    found[GIT_COMMIT] = mlmd.custom_value(run_context, GIT_COMMIT)
  if mlmd.custom_value(run_context, TOTAL_SECONDS) is not None:
    found[TOTAL_SECONDS] = mlmd.custom_value(run_context, TOTAL_SECONDS)
  return found
