"""A serving dir as model servers see it: TF Serving's layout of numbered version folders, each
holding a SavedModel and the record of what it was pushed from. The one rule for which names are
versions, used by the Pusher, the local runner, `predict` and `inspect` (any filesystem)."""

import json
import os
import re
from typing import Any, Dict, List, Optional, Tuple

from components.lib import artifact_files

# TF Serving takes a folder for a version only when its name is a plain decimal number.
_VERSION_NAME = re.compile(r'[0-9]+')
SAVED_MODEL_FILE = 'saved_model.pb'
# In each version, beside what TF Serving reads; servers ignore assets.extra/ beyond warmup.
PROVENANCE_FILE = os.path.join('assets.extra', 'pushed_from.json')
# The record's keys: the Model artifact pushed, the PushedModel artifact of that push.
MODEL_URI, PUSHED_MODEL_URI = 'model_uri', 'pushed_model_uri'


def is_version_name(name: str) -> bool:
  return bool(_VERSION_NAME.fullmatch(name))


def versions(serving_dir: str) -> List[int]:
  """The numbered version folders under a serving dir, ascending; none if it does not exist."""
  if not artifact_files.isdir(serving_dir):
    return []
  return sorted(
    int(name)
    for name in artifact_files.listdir(serving_dir)
    if is_version_name(name) and artifact_files.isdir(artifact_files.join(serving_dir, name))
  )


def version_dir(serving_dir: str, version: int) -> str:
  return artifact_files.join(serving_dir, str(version))


def newest_servable(serving_dir: str) -> Optional[Tuple[str, str]]:
  """(version dir, version) of the highest version holding a saved_model.pb, as a server picks
  it; None when there is none."""
  for version in reversed(versions(serving_dir)):
    path = version_dir(serving_dir, version)
    if artifact_files.exists(artifact_files.join(path, SAVED_MODEL_FILE)):
      return path, str(version)
  return None


def provenance(path: str) -> Dict[str, Any]:
  """What a version was pushed from; {} for one without a readable record (older or foreign)."""
  try:
    record = json.loads(
      artifact_files.read_text(artifact_files.join(path, PROVENANCE_FILE)) or '{}'
    )
  except Exception:  # noqa: BLE001  # any filesystem's error: an unreadable record is none
    return {}
  return record if isinstance(record, dict) else {}
