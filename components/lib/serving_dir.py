"""A serving dir as model servers see it: TF Serving's layout of numbered version folders, each
holding a SavedModel and the record of what it was pushed from. The one rule for which names are
versions, used by the Pusher, the local runner, `predict` and `inspect` (any filesystem); the
rule for the names a push writes besides them; and the check of a version's record before use."""

import hashlib
import json
import math
import os
import re
import socket
from typing import Any, Dict, List, Optional, Tuple

from components.lib import artifact_files

# TF Serving loads a folder as a version when its name reads as an int64
# (tensorflow_serving/sources/storage_path/file_system_storage_path_source.cc, ParseVersionNumber:
# safe_strto64). Ours are plain decimal numbers within that range, written one way only, so a
# version number and its folder name always map to each other; any other name is not a version.
MAX_VERSION = 2**63 - 1
_VERSION_NAME = re.compile(r'0|[1-9][0-9]*')
SAVED_MODEL_FILE = 'saved_model.pb'
# In each version, beside what TF Serving reads; servers ignore assets.extra/ beyond warmup.
PROVENANCE_FILE = os.path.join('assets.extra', 'pushed_from.json')
# The record's keys: the Model artifact pushed, the PushedModel artifact of that push, when, and
# the blessing it was pushed on.
MODEL_URI, PUSHED_MODEL_URI = 'model_uri', 'pushed_model_uri'
PUSHED_AT, BLESSING_URI = 'pushed_at', 'blessing_uri'
MAX_RECORD_BYTES = 64 * 1024  # a record is a few hundred bytes; a larger file is not one of ours
MAX_PUSHED_AT = 253402128000  # 9999-12-30: a day short of what datetime can show, in any zone


def is_version_name(name: str) -> bool:
  return bool(_VERSION_NAME.fullmatch(name)) and int(name) <= MAX_VERSION


def versions(serving_dir: str) -> List[int]:
  """The numbered version folders under a serving dir, ascending; none if it does not exist."""
  if not artifact_files.isdir(serving_dir):
    return []
  return sorted(
    int(name)
    for name in artifact_files.listdir(serving_dir)
    if is_version_name(name) and artifact_files.isdir(artifact_files.join(serving_dir, name))
  )


def not_versions(serving_dir: str) -> List[str]:
  """The folders under a serving dir that a person may take for versions but no server loads:
  every visible folder whose name is not a plain version number ('007', '²', '1.5', 'old').
  Hidden names (.interrupted, a push's staging folder) are not listed here."""
  if not artifact_files.isdir(serving_dir):
    return []
  return sorted(
    name
    for name in artifact_files.listdir(serving_dir)
    if not name.startswith('.')
    and not is_version_name(name)
    and artifact_files.isdir(artifact_files.join(serving_dir, name))
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


# --- A version's record (assets.extra/pushed_from.json), checked before anything uses it.


def record_problem(record: Any) -> Optional[str]:
  """None when `record` has the form the Pusher writes (an object; its URIs text; `pushed_at`
  a time datetime can show); else what is wrong, as a phrase. Unknown keys are allowed."""
  if not isinstance(record, dict):
    return f'its record is {type(record).__name__}, not an object'
  for key in (MODEL_URI, PUSHED_MODEL_URI, BLESSING_URI):
    if key in record and not isinstance(record[key], str):
      return f'its record has a {key} that is {type(record[key]).__name__}, not text'
  pushed_at = record.get(PUSHED_AT)
  if pushed_at is not None and (
    isinstance(pushed_at, bool)
    or not isinstance(pushed_at, (int, float))
    or not math.isfinite(pushed_at)
    or not 0 <= pushed_at <= MAX_PUSHED_AT
  ):
    return f'its record has a {PUSHED_AT} that is not a time ({json.dumps(pushed_at)[:40]})'
  return None


def parse_record(raw: bytes) -> Tuple[Dict[str, Any], Optional[str]]:
  """(record, None) for the bytes of a record of the Pusher's form; else ({}, what is wrong)."""
  if len(raw) > MAX_RECORD_BYTES:
    return {}, f'its record is over {MAX_RECORD_BYTES} bytes'
  try:
    record = json.loads(raw.decode('utf-8'), parse_constant=_no_constants)
  except (ValueError, RecursionError) as e:  # UnicodeDecodeError and JSONDecodeError included
    return {}, f'its record is not JSON ({" ".join(str(e).split())[:120]})'
  problem = record_problem(record)
  return ({}, problem) if problem else (record, None)


def _no_constants(name: str) -> Any:
  raise ValueError(f'{name} is no JSON value')


def read_provenance(path: str) -> Tuple[Dict[str, Any], Optional[str]]:
  """What a version was pushed from, checked: (record, None), or ({}, why there is none:
  'no record', 'its record cannot be read (…)', or what is wrong with it)."""
  file = artifact_files.join(path, PROVENANCE_FILE)
  try:
    if not artifact_files.exists(file):
      return {}, 'no record'
    with artifact_files.open_binary(file) as f:
      raw = f.read(MAX_RECORD_BYTES + 1)
  except Exception as e:  # noqa: BLE001  # any filesystem's error (a FIFO refused included)
    return {}, f'its record cannot be read ({" ".join(str(e).split())[:120]})'
  return parse_record(raw)


def provenance(path: str) -> Dict[str, Any]:
  """What a version was pushed from; {} for one without a record of the Pusher's form (older,
  foreign, hand-edited or unreadable)."""
  return read_provenance(path)[0]


# --- Names a push writes beside the versions: its staging folder, models.config's temporary file.


def _mark(prefix: str, stamp: str, pid: str, host: str) -> str:
  return hashlib.sha256(f'mnist-tfx {prefix}{stamp}-{pid}-{host}'.encode()).hexdigest()[:10]


def owned_name(
  prefix: str, stamp: int, pid: Optional[int] = None, host: Optional[str] = None
) -> str:
  """`<prefix><stamp>-<pid>-<host>-<mark>`: who is writing it, so that a later push can tell
  whether its writer is gone, and a mark (a checksum of the rest) that no name a person gives
  carries, so that a push removes only what a push made."""
  pid_text = str(os.getpid() if pid is None else pid)
  host = socket.gethostname() if host is None else host
  return f'{prefix}{stamp}-{pid_text}-{host}-{_mark(prefix, str(stamp), pid_text, host)}'


def parse_owned(name: str, prefix: str) -> Optional[Tuple[int, int, str]]:
  """(stamp, pid, host) of a name owned_name() made with `prefix`; None for any other name."""
  if not name.startswith(prefix):
    return None
  head, _, mark = name[len(prefix) :].rpartition('-')
  parts = head.split('-', 2)
  if len(parts) != 3 or not all(re.fullmatch(r'[0-9]{1,19}', p) for p in parts[:2]):
    return None
  stamp, pid, host = parts
  if mark != _mark(prefix, stamp, pid, host):
    return None
  return int(stamp), int(pid), host
