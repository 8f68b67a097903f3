"""An output dir holds the models of one data set and class list (components/lib/data_identity.py):
its first run records which in <output dir>/dataset.json, and a run on anything else is refused
before it reads its data, with one line naming both and the way out. Its Evaluator would
otherwise compare the new model with the served one on data that one never saw (a digits model
scored on clothes), and its Pusher would serve it as the next version of the other.

An output dir from before the record: its identity is that of the first Examples its store
recorded there (MnistExampleGen records the data set and classes on them)."""

import json
import os
from typing import Optional

from components.lib import data_identity, local_files, mlmd
from components.lib.data_identity import DataIdentity
from pipeline.commands import ExitCode
from pipeline.local.errors import RunError
from pipeline.paths import LocalPaths

MAX_BYTES = 256 * 1024


def read_claim(paths: LocalPaths) -> Optional[DataIdentity]:
  """The identity <output dir>/dataset.json records; None when there is none; RunError when
  it is not a record of this form (it is not overwritten: someone may have made it)."""
  path = paths.data_set_path
  if not os.path.lexists(path):
    return None
  try:
    with local_files.open_regular(path) as f:
      raw = f.read(MAX_BYTES + 1)
    found = parse_claim(raw)
    problem = None if found else 'not a record of a data set and its classes'
  except OSError as e:
    found, problem = None, f'cannot be read ({e.strerror or e})'
  if found is None:
    raise RunError(
      f'error: {path}: {problem}; it says which data set the models in this output dir are '
      f'of: move it aside (mv {path} {path}.bak) and rerun, or pass another --output-dir'
    )
  return found


def parse_claim(raw: bytes) -> Optional[DataIdentity]:
  """The identity in a dataset.json's bytes; None for anything else."""
  if len(raw) > MAX_BYTES:
    return None
  try:
    return data_identity.from_record(json.loads(raw.decode('utf-8')))
  except (ValueError, RecursionError):
    return None


def recorded_in_store(store, paths: LocalPaths) -> Optional[DataIdentity]:
  """The identity of the first Examples the store recorded under this output dir (an output dir
  from before dataset.json); None when there is none."""
  prefix = paths.output_dir.rstrip('/') + '/'
  examples = []
  for type_name in mlmd.type_names('Examples'):
    try:
      examples.extend(store.get_artifacts_by_type(type_name))
    except Exception:  # noqa: BLE001  # ML Metadata's NotFoundError: no such type in this store
      continue
  ours = sorted((a for a in examples if a.uri.startswith(prefix)), key=lambda a: a.id)
  return data_identity.of_examples(ours[0]) if ours else None


def check(paths: LocalPaths, wanted: DataIdentity, store=None) -> Optional[DataIdentity]:
  """RunError (exit 2) when the output dir holds the models of another data set or class list
  than `wanted`. Returns the output dir's identity (None for one that has none yet). `store`,
  when there is one, answers for an output dir from before dataset.json."""
  found = read_claim(paths)
  if found is None and store is not None:
    found = recorded_in_store(store, paths)
  if found is not None and found != wanted:
    classes = ' (the same name, other classes)' if found.dataset == wanted.dataset else ''
    raise RunError(
      f'error: {paths.output_dir} holds the models of {found.describe()}; this run is on '
      f'{wanted.describe()}{classes}: pass another --output-dir (a model is compared with and '
      'served beside models of its own data set and classes only)',
      ExitCode.USAGE,
    )
  return found


def record(paths: LocalPaths, identity: DataIdentity) -> None:
  """Writes dataset.json (whole, or not at all) when the output dir has none."""
  if os.path.lexists(paths.data_set_path):
    return
  temporary = f'{paths.data_set_path}.tmp-{os.getpid()}'
  with open(temporary, 'w', encoding='utf-8') as f:
    f.write(identity.to_json() + '\n')
  os.replace(temporary, paths.data_set_path)
