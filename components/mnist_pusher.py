"""MnistPusher: TFX's Pusher that never pushes the same model twice and writes versions whole.

TFX's stock Pusher writes a new version for every blessing, so a rerun whose Evaluator blesses
an unchanged (cached) model again serves the very same model under a new number. Here each
pushed version records where it came from (`assets.extra/pushed_from.json`, a place model
servers ignore), written after the model itself; when the newest version already holds this
Trainer artifact, nothing new is written and the PushedModel says which version serves it. A
version is copied under a name a model server ignores (`.pushing-…`) and renamed into place
when complete (one atomic rename on a filesystem; object by object on s3:// and gs://).
"""
import json
import os
import time
import uuid
from typing import Any, Dict, List, Optional

from absl import logging
import tensorflow as tf
from tfx import types
from tfx import v1 as tfx
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils
from tfx.types import standard_component_specs
from tfx.utils import io_utils
from tfx.utils import proto_utils

PROVENANCE_FILE = os.path.join('assets.extra', 'pushed_from.json')
ALREADY_SERVING_KEY = 'already_serving_version'  # PushedModel property when nothing new is written


def versions(base_directory: str) -> List[int]:
  """The numbered version folders under a serving dir, as a model server sees them (ascending)."""
  if not fileio.exists(base_directory):
    return []
  names = [name.rstrip('/') for name in fileio.listdir(base_directory)]
  return sorted(int(name) for name in names
                if name.isascii() and name.isdigit() and fileio.isdir(os.path.join(base_directory, name)))


def provenance(version_dir: str) -> Dict[str, Any]:
  """What a version was pushed from; {} for one without the record (older or foreign)."""
  path = os.path.join(version_dir, PROVENANCE_FILE)
  try:
    if not fileio.exists(path):
      return {}
    with fileio.open(path, 'r') as f:
      record = json.loads(f.read())
    return record if isinstance(record, dict) else {}
  except (OSError, ValueError, tf.errors.OpError):
    return {}


def serving_version_of(base_directory: str, model_uri: str,
                       existing: Optional[List[int]] = None) -> Optional[int]:
  """The newest version if it holds this model artifact (and a whole SavedModel), else None."""
  existing = versions(base_directory) if existing is None else existing
  if not existing:
    return None
  newest = os.path.join(base_directory, str(existing[-1]))
  if provenance(newest).get('model_uri') == model_uri and \
      fileio.exists(os.path.join(newest, 'saved_model.pb')):
    return existing[-1]
  return None


def next_version(existing: List[int]) -> int:
  """Seconds since the epoch, as TFX numbers versions, but always above the newest one."""
  return max(int(time.time()), existing[-1] + 1 if existing else 0)


class Executor(pusher_executor.Executor):

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
    pushed = artifact_utils.get_single_instance(
        output_dict[standard_component_specs.PUSHED_MODEL_KEY])
    if not self.CheckBlessing(input_dict):
      self._MarkNotPushed(pushed)
      return
    destination = pusher_pb2.PushDestination()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY],
                              destination)
    if destination.WhichOneof('destination') != 'filesystem':
      raise ValueError('MnistPusher pushes to a filesystem destination only')
    base = destination.filesystem.base_directory
    model = artifact_utils.get_single_instance(input_dict[standard_component_specs.MODEL_KEY])

    existing = versions(base)  # listed once: it decides both the answer and the next number
    serving = serving_version_of(base, model.uri, existing)
    if serving is not None:
      logging.info('Version %d already serves model %s: nothing new pushed', serving, model.uri)
      self._MarkNotPushed(pushed)
      pushed.set_string_custom_property('pushed_destination', os.path.join(base, str(serving)))
      pushed.set_string_custom_property(ALREADY_SERVING_KEY, str(serving))
      return

    model_path = self.GetModelPath(input_dict)
    version = next_version(existing)
    target = os.path.join(base, str(version))
    staging = os.path.join(base, f'.pushing-{version}-{uuid.uuid4().hex[:8]}')
    io_utils.copy_dir(model_path, staging)
    fileio.rename(staging, target)  # atomic on a filesystem; object by object on s3:// and gs://
    # Written last: a version only claims this model once all of it is in place.
    record = {'model_uri': model.uri, 'pushed_at': time.time(),
              'blessing_uri': artifact_utils.get_single_instance(
                  input_dict[standard_component_specs.MODEL_BLESSING_KEY]).uri}
    io_utils.write_string_file(os.path.join(target, PROVENANCE_FILE), json.dumps(record))
    logging.info('Model written to serving path %s.', target)
    io_utils.copy_dir(model_path, pushed.uri)
    self._MarkPushed(pushed, pushed_destination=target, pushed_version=str(version))


class MnistPusher(tfx.components.Pusher):
  """The Pusher with the executor above; same inputs, outputs and push_destination."""

  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
