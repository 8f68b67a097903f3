"""Versions a killed run left behind: the Pusher renamed a version into place, then the run was
killed before ML Metadata recorded the push. Before each run, a version that this store vouches
was pushed by an interrupted run of this pipeline is moved aside (never deleted); others are kept
and named. The forensics use ML Metadata's own queries on the execution the record names."""

import os
from typing import Any, Dict, Optional

from ml_metadata.proto import metadata_store_pb2
from tfx.types import standard_component_specs

from components.lib import mlmd, names, serving_dir
from pipeline import store as store_lib
from pipeline.paths import ArtifactPath

INTERRUPTED_DIR = '.interrupted'  # under the serving dir: not a number, so no server loads it
PUSHED_MODEL_KEY = standard_component_specs.PUSHED_MODEL_KEY  # the Pusher's output key


def _interrupted_push(
  store, record: Dict[str, Any], pipeline_root: str, pipeline_name: str
) -> Optional[str]:
  """None when this store vouches that `record` (a version's provenance) is the push of this
  pipeline's Pusher execution that never completed; else why it cannot (or that it completed).

  All must hold: the record names this pipeline root; the execution its URI names (TFX's
  layout: <root>/<node id>/pushed_model/<execution id>) is in this store, in this pipeline's
  context, of a Pusher type, with exactly that output URI and the recorded model among its
  inputs; and the execution did not complete."""
  uri = record.get(serving_dir.PUSHED_MODEL_URI, '').rstrip('/')
  if not uri:
    return 'no push record'
  pushed = ArtifactPath.parse(uri)
  if pushed.pipeline_root != pipeline_root.rstrip('/'):
    return f'pushed from another pipeline root ({uri})'
  execution_id = pushed.execution_id
  parsed = mlmd.parse_id(execution_id)
  if parsed is None:
    return f'its record names no execution ({execution_id[:40]!r} is not an id)'
  executions = store.get_executions_by_id([parsed])
  if not executions:
    return f'its push (execution {execution_id}) is not in this store'
  execution = executions[0]
  [execution_type] = store.get_execution_types_by_id([execution.type_id])
  contexts = {
    (t.name, c.name)
    for c in store.get_contexts_by_execution(execution.id)
    for t in store.get_context_types_by_id([c.type_id])
  }
  node_ids = [
    name[len(pipeline_name) + 1 :]
    for kind, name in contexts
    if kind == mlmd.NODE_CONTEXT_TYPE and name.startswith(pipeline_name + '.')
  ]
  local_pipeline = (mlmd.PIPELINE_CONTEXT_TYPES[0], pipeline_name)
  if not execution_type.name.endswith(names.PUSHER) or local_pipeline not in contexts:
    return f"execution {execution_id} of this store is not this pipeline's Pusher"
  if uri not in {
    ArtifactPath(pipeline_root, node, PUSHED_MODEL_KEY, execution_id).uri for node in node_ids
  }:
    return f'execution {execution_id} of this store writes elsewhere'
  events = store.get_events_by_execution_ids([execution.id])
  artifacts = {a.id: a.uri for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
  outputs = {
    artifacts.get(e.artifact_id) for e in events if e.type == metadata_store_pb2.Event.OUTPUT
  }
  inputs = {
    artifacts.get(e.artifact_id) for e in events if e.type == metadata_store_pb2.Event.INPUT
  }
  if outputs - {uri}:
    return f'execution {execution_id} of this store recorded another output'
  if record.get(serving_dir.MODEL_URI) not in inputs:
    return f'execution {execution_id} of this store pushed another model'
  if execution.last_known_state in (
    metadata_store_pb2.Execution.COMPLETE,
    metadata_store_pb2.Execution.CACHED,
  ):
    return 'complete'
  return None


def set_aside_interrupted_pushes(
  metadata_config, serving: str, pipeline_root: str, pipeline_name: str
):
  """Moves aside (to <serving dir>/.interrupted/<version>) each version that this store vouches
  was pushed by an interrupted run of this pipeline: the Pusher renamed it into place, then the
  run was killed before its execution was marked COMPLETE (_interrupted_push says what
  vouching takes). Nothing is deleted. Returns ([(version dir, where it went)], [(version dir,
  why this store does not vouch for it)]); versions the store vouches for as complete pushes are
  in neither. Run under the output dir's lock, so no push is in flight."""
  versions = serving_dir.versions(serving)
  if not versions:
    return [], []
  store = store_lib.open_store(metadata_config)
  moved, unvouched = [], []
  for version in versions:
    version_dir = serving_dir.version_dir(serving, version)
    record, problem = serving_dir.read_provenance(version_dir)
    reason = (
      f'{serving_dir.PROVENANCE_FILE}: {problem}'
      if problem and problem != 'no record'
      else _interrupted_push(store, record, pipeline_root, pipeline_name)
    )
    if reason == 'complete':
      continue
    if reason:
      unvouched.append((version_dir, reason))
      continue
    aside = os.path.join(serving, INTERRUPTED_DIR, str(version))
    suffix = 1
    while os.path.lexists(aside):
      suffix += 1
      aside = os.path.join(serving, INTERRUPTED_DIR, f'{version}-{suffix}')
    os.makedirs(os.path.dirname(aside), exist_ok=True)
    os.rename(version_dir, aside)
    moved.append((version_dir, aside))
  return moved, unvouched
