"""How a run was made beyond its settings, as a local run recorded it on its pipeline_run context
when it ended (pipeline/local/run_record.py): library versions, the project's git commit, the
machine, the total time."""

import json
from typing import Any, Dict

from components.lib import mlmd
from pipeline.local.run_record import GIT_COMMIT, MACHINE, TOTAL_SECONDS, VERSIONS


def read(run_context) -> Dict[str, Any]:
  """The recorded values; {} for runs that recorded none (older runs, Kubeflow)."""
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
