"""MnistPusher: TFX's Pusher that writes versions whole and never pushes the same model twice.

A version appears under the serving dir only complete. It is copied under a name model servers
ignore (`.pushing-…`, not a number), with its provenance record (`assets.extra/pushed_from.json`,
which servers ignore too), flushed to disk, then renamed to its number: one atomic rename on a
local filesystem. Object stores have no rename; there the files are copied from the staging
prefix with `saved_model.pb` last (a loader reads it first and needs everything else), so a
server never finds a version's `saved_model.pb` before its variables.

Leftovers of interrupted pushes are removed by the next push (staging dirs whose process is gone
or that are over a day old), and only those: a push's names carry who wrote them and a mark
(components/lib/serving_dir.py owned_name), so a name a person chose, even `.pushing-backup` or
`models.config.tmp-mine`, is never removed; it is listed (foreign_leftovers). A kill between
the rename and ML Metadata's record of the push leaves a whole version that the store does not
know: the local runner moves it aside before its next run (pipeline/local/interrupted.py, using
`pushed_model_uri` in the record).

TFX's stock Pusher writes a new version for every blessing, so a rerun whose Evaluator blesses an
unchanged (cached) model again serves the very same model under a new number. Here, when the
newest version already holds this Trainer artifact, nothing new is written and the PushedModel
says which version serves it.

A local serving dir also gets `models.config`, TF Serving's --model_config_file for it (model
`mnist`, base_path the serving dir, absolute; trainer_module/tf_serving.py), written before a
version is published and whenever the model is already served. TF Serving takes only numbered
folders for versions, so the file beside them is ignored. It is written to a temporary name and
renamed over the old one; a temporary file left by a killed push is removed by the next one.
"""

import json
import os
import socket
import time
from typing import Any, Dict, List, Optional

from absl import logging
from tfx import types
from tfx.components.pusher import component as pusher_component
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from components.lib import names, serving_dir
from trainer_module import tf_serving

STAGING_PREFIX = '.pushing-'
STALE_STAGING_SECONDS = 24 * 3600  # a staging dir of another host's push is left alone until then
MODELS_CONFIG_FILE = tf_serving.MODELS_CONFIG_FILE  # models.config
CONFIG_TEMP_PREFIX = MODELS_CONFIG_FILE + '.tmp-'


def serving_version_of(
  base_directory: str, model_uri: str, existing: Optional[List[int]] = None
) -> Optional[int]:
  """The newest version if it holds this model artifact (and a whole SavedModel), else None."""
  existing = serving_dir.versions(base_directory) if existing is None else existing
  if not existing:
    return None
  newest = os.path.join(base_directory, str(existing[-1]))
  if serving_dir.provenance(newest).get(serving_dir.MODEL_URI) == model_uri and fileio.exists(
    os.path.join(newest, serving_dir.SAVED_MODEL_FILE)
  ):
    return existing[-1]
  return None


def next_version(existing: List[int]) -> int:
  """Seconds since the epoch, as TFX numbers versions, but always above the newest one."""
  if existing and existing[-1] >= serving_dir.MAX_VERSION:
    raise ValueError(
      f'the serving dir holds version {existing[-1]}: no higher number is a version TF Serving '
      'can read; move that folder aside'
    )
  return max(int(time.time()), existing[-1] + 1 if existing else 0)


def _is_local(path: str) -> bool:
  return '://' not in path


def _owned_name(prefix: str, stamp: int) -> str:
  """A name of this process's push: serving_dir.owned_name (who writes it, and the mark)."""
  return serving_dir.owned_name(prefix, stamp)


def staging_name(version: int) -> str:
  return _owned_name(STAGING_PREFIX, version)


def _abandoned(name: str, now: float, prefix: str) -> bool:
  """Whether `name` is a push's own name (owned_name) whose writer is gone: this process (an
  earlier push of it), a dead process on this host, or another host's push over a day old."""
  owner = serving_dir.parse_owned(name, prefix)
  if owner is None:
    return False  # not a name a push makes: a person's, left alone
  started, pid, host = owner
  if host == socket.gethostname():
    try:
      os.kill(pid, 0)
      return pid == os.getpid()  # alive: ours is a leftover of this process only
    except ProcessLookupError:
      return True
    except PermissionError:
      return False  # alive, another user's
    except OverflowError:
      return False  # no process can have that pid: not a name a push made here
  return now - started > STALE_STAGING_SECONDS


def remove_abandoned_staging(base_directory: str, prefix: str = STAGING_PREFIX) -> List[str]:
  """Deletes what pushes that died left under `prefix` (staging dirs, temporary files): theirs
  if on this host and the process is gone, another host's once over a day old. Only names a
  push made (serving_dir.parse_owned) are candidates; anything else is left alone."""
  if not fileio.exists(base_directory):
    return []
  removed, now = [], time.time()
  for name in (n.rstrip('/') for n in fileio.listdir(base_directory)):
    if _abandoned(name, now, prefix):
      path = os.path.join(base_directory, name)
      if fileio.isdir(path):
        fileio.rmtree(path)
      else:
        fileio.remove(path)
      removed.append(name)
  return removed


def foreign_leftovers(base_directory: str) -> List[str]:
  """Names in the serving dir that look like a push's leftovers (a staging folder, a temporary
  models.config) but that no push of this project made: left alone, and listed for a person."""
  if not fileio.exists(base_directory):
    return []
  return sorted(
    name
    for name in (n.rstrip('/') for n in fileio.listdir(base_directory))
    if any(
      name.startswith(prefix) and serving_dir.parse_owned(name, prefix) is None
      for prefix in (STAGING_PREFIX, CONFIG_TEMP_PREFIX)
    )
  )


def write_models_config(base_directory: str) -> Optional[str]:
  """Writes `<base_directory>/models.config` atomically and returns its path; only for local
  dirs (None for object stores). Temporary files of dead pushes are removed first."""
  if not _is_local(base_directory):
    return None
  base_directory = os.path.abspath(base_directory)
  os.makedirs(base_directory, exist_ok=True)
  remove_abandoned_staging(base_directory, CONFIG_TEMP_PREFIX)
  path = os.path.join(base_directory, MODELS_CONFIG_FILE)
  temporary = os.path.join(base_directory, _owned_name(CONFIG_TEMP_PREFIX, int(time.time())))
  try:
    with open(temporary, 'w', encoding='utf-8') as f:
      f.write(tf_serving.models_config_text(base_directory))
      f.flush()
      os.fsync(f.fileno())
    os.replace(temporary, path)  # atomic: a server polling the file reads the old or the new one
  except BaseException:
    if os.path.exists(temporary):
      os.remove(temporary)
    raise
  return path


def _fsync_dir(path: str) -> None:
  fd = os.open(path, os.O_RDONLY)
  try:
    os.fsync(fd)
  finally:
    os.close(fd)


def _flush_tree(path: str) -> None:
  """fsync every file and folder, so a rename never publishes files still only in the page cache."""
  for dirpath, _, files in os.walk(path):
    for name in files:
      with open(os.path.join(dirpath, name), 'rb') as f:
        os.fsync(f.fileno())
    _fsync_dir(dirpath)


def _remove_quietly(path: str) -> None:
  try:
    if fileio.exists(path):
      fileio.rmtree(path)
  except Exception:  # noqa: BLE001  # the next push removes it
    logging.warning('Could not remove %s; the next push will', path)


def publish_version(staging: str, target: str) -> None:
  """Makes a complete staged version visible under its number (see the module docstring)."""
  if _is_local(target):
    _flush_tree(staging)
    os.rename(staging, target)  # atomic
    _fsync_dir(os.path.dirname(target))
    return
  files = [
    os.path.join(dirpath, name) for dirpath, _, names in fileio.walk(staging) for name in names
  ]
  files.sort(
    key=lambda path: os.path.relpath(path, staging) == serving_dir.SAVED_MODEL_FILE
  )  # it goes last
  for path in files:
    destination = os.path.join(target, os.path.relpath(path, staging))
    fileio.makedirs(os.path.dirname(destination))
    fileio.copy(path, destination, overwrite=True)
  fileio.rmtree(staging)


class Executor(pusher_executor.Executor):
  def Do(
    self,
    input_dict: Dict[str, List[types.Artifact]],
    output_dict: Dict[str, List[types.Artifact]],
    exec_properties: Dict[str, Any],
  ) -> None:
    pushed = artifact_utils.get_single_instance(
      output_dict[standard_component_specs.PUSHED_MODEL_KEY]
    )
    if not self.CheckBlessing(input_dict):
      self._MarkNotPushed(pushed)
      return
    destination = pusher_pb2.PushDestination()
    proto_utils.json_to_proto(
      exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination
    )
    if destination.WhichOneof('destination') != 'filesystem':
      raise ValueError('MnistPusher pushes to a filesystem destination only')
    base = destination.filesystem.base_directory
    model = artifact_utils.get_single_instance(input_dict[standard_component_specs.MODEL_KEY])

    existing = serving_dir.versions(
      base
    )  # listed once: it decides both the answer and the next number
    serving = serving_version_of(base, model.uri, existing)
    if serving is not None:
      logging.info('Version %d already serves model %s: nothing new pushed', serving, model.uri)
      write_models_config(base)
      self._MarkNotPushed(pushed)
      pushed.set_string_custom_property(names.PUSHED_DESTINATION, os.path.join(base, str(serving)))
      pushed.set_string_custom_property(names.ALREADY_SERVING, str(serving))
      return

    removed = remove_abandoned_staging(base)
    if removed:
      logging.info('Removed leftovers of interrupted pushes: %s', ', '.join(removed))
    foreign = foreign_leftovers(base)
    if foreign:
      logging.warning('Left alone in %s (not made by a push): %s', base, ', '.join(foreign))
    version = next_version(existing)
    target = os.path.join(base, str(version))
    staging = os.path.join(base, staging_name(version))
    record = {
      serving_dir.MODEL_URI: model.uri,
      serving_dir.PUSHED_MODEL_URI: pushed.uri,
      'pushed_at': time.time(),
      'blessing_uri': artifact_utils.get_single_instance(
        input_dict[standard_component_specs.MODEL_BLESSING_KEY]
      ).uri,
    }
    try:
      io_utils.copy_dir(self.GetModelPath(input_dict), staging)
      io_utils.write_string_file(
        os.path.join(staging, serving_dir.PROVENANCE_FILE), json.dumps(record)
      )
      write_models_config(base)
      publish_version(staging, target)
    except BaseException:
      _remove_quietly(staging)  # a full disk or an error: leave nothing behind
      raise
    logging.info('Model written to serving path %s.', target)
    self._MarkPushed(pushed, pushed_destination=target, pushed_version=str(version))


class MnistPusher(pusher_component.Pusher):
  """The Pusher with the executor above; same inputs, outputs and push_destination."""

  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
