"""Which pipeline root the runs of an ML Metadata store write into: one of its own.

TFX names each output folder by its execution's id (<root>/<node>/<key>/<execution id>), and a
new store counts its ids from 1 again. Writing into a root an earlier store wrote, its first
executions would meet that store's folders (ImportSchemaGen fails with AlreadyExistsError), and
TFX's clean-up of the failed execution deletes the old folder. So each store writes into a root
no other store wrote: the store carries an id (a context of our own type), and the root it
writes into holds that id in a marker file. An output dir's first store writes into
pipeline_root/, as ever; a later one (after --fresh-store, or a store moved away by hand) into
pipeline_root-2/, -3/, …; nothing an earlier store wrote is touched, and its versions' records
name its own root, so the new store vouches for none of them (pipeline/local/interrupted.py).
"""

import os
import re
import uuid
from typing import Optional, Tuple

from ml_metadata import errors
from ml_metadata.proto import metadata_store_pb2

from components.lib import local_files
from pipeline.paths import LocalPaths

STORE_CONTEXT_TYPE = 'mnist-tfx.store'  # one context per store, named by its id
MARKER_FILE = '.store-id'  # in a pipeline root: the id of the store whose runs write there
_ID = re.compile(r'[0-9a-f]{32}')


def store_id(store) -> str:
  """The id of this store, made and recorded the first time it is asked for."""
  try:
    found = store.get_contexts_by_type(STORE_CONTEXT_TYPE)
  except errors.NotFoundError:
    found = []
  if found:
    return found[0].name
  type_id = store.put_context_type(metadata_store_pb2.ContextType(name=STORE_CONTEXT_TYPE))
  name = uuid.uuid4().hex
  store.put_contexts([metadata_store_pb2.Context(type_id=type_id, name=name)])
  return name


def marker(root: str) -> Optional[str]:
  """The store id a pipeline root's marker names; None when it has no marker of that form (a
  marker that is not a regular file, or holds anything else, is no marker)."""
  path = os.path.join(root, MARKER_FILE)
  try:
    with local_files.open_regular(path) as f:
      text = f.read(100).decode('ascii').strip()
  except (OSError, UnicodeDecodeError):
    return None
  return text if _ID.fullmatch(text) else None


def _write_marker(root: str, identity: str) -> None:
  os.makedirs(root, exist_ok=True)
  temporary = os.path.join(root, f'{MARKER_FILE}.tmp-{os.getpid()}')
  with open(temporary, 'w', encoding='ascii') as f:
    f.write(identity + '\n')
  os.replace(temporary, os.path.join(root, MARKER_FILE))


def _wrote_into(store, root: str) -> bool:
  """Whether this store recorded an artifact under `root` (a store from before the markers)."""
  prefix = root.rstrip('/') + '/'
  return any(a.uri.startswith(prefix) for a in store.get_artifacts())


def _empty(root: str) -> bool:
  return not os.path.lexists(root) or (os.path.isdir(root) and not os.listdir(root))


def pipeline_root(store, paths: LocalPaths) -> Tuple[str, bool]:
  """(the pipeline root this store's runs write into, whether it is a new generation beside
  an earlier store's). Run under the output dir's lock."""
  identity = store_id(store)
  generations = paths.pipeline_root_generations()
  for n in generations:
    if marker(paths.pipeline_root_generation(n)) == identity:
      return paths.pipeline_root_generation(n), False
  first = paths.pipeline_root
  if _empty(first) or (marker(first) is None and _wrote_into(store, first)):
    _write_marker(first, identity)
    return first, False
  n = max(generations + [1]) + 1
  while os.path.lexists(paths.pipeline_root_generation(n)):  # a file of that name, say
    n += 1
  root = paths.pipeline_root_generation(n)
  _write_marker(root, identity)
  return root, True
