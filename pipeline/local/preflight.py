"""What a local run checks before anything is written: where the data is and that it is all
there, that the output dir can be used as it is (or, with --fresh-store, a new ML Metadata store
beside the old one), that it holds models of this run's data set, and that a MySQL store
answers; then which pipeline root the store's runs write into. Each problem is one line
(RunError)."""

import contextlib
import datetime
import os
from typing import Optional, Tuple

from ml_metadata import metadata_store

from components.lib import datasets, download, idx, object_storage, serving_dir
from components.lib.data_identity import DataIdentity
from pipeline import store as store_lib
from pipeline.local import data_claim, store_root
from pipeline.local.errors import RunError
from pipeline.local.interrupted import INTERRUPTED_DIR
from pipeline.paths import LocalPaths


def find_data(data_dir: Optional[str], dataset: Optional[str] = None) -> str:
  """--data-dir, else the data set's own places ($MNIST_DATA_DIR, …), else the download cache."""
  try:
    spec = datasets.get(dataset)
    problem = object_storage.problem(data_dir) if data_dir else None  # before TF loads, TFX starts
    if problem:
      raise idx.MnistDataError(f'{data_dir}: {problem}')
    found = download.resolve_data_dir(data_dir, log=print, dataset=spec)
    problem = object_storage.problem(found) if found != data_dir else None  # from $MNIST_DATA_DIR
    if problem:
      raise idx.MnistDataError(f'{found}: {problem}')
    if not idx.is_remote(found):
      missing = [f.name for f in spec.all_files if not os.path.exists(os.path.join(found, f.name))]
      if missing:
        raise idx.MnistDataError(f'{", ".join(missing)}: missing from {found}')
    return found
  except idx.MnistDataError as e:
    raise RunError(f'error: {e}') from None


def check_output_dir(paths: LocalPaths, sqlite: bool, fresh_store: bool = False) -> Optional[str]:
  """One line and a way out (RunError) for an output dir a run cannot use as it is: serving/
  that is not a folder; an SQLite store that is corrupt, or missing while serving/ holds
  versions (a fresh store could not vouch for them). With `fresh_store`, a corrupt or missing
  store is replaced by a new one; the old file is moved aside, never deleted, and the versions
  are kept. Returns where the old store went, if it was moved. Run under the output dir's lock."""
  serving = paths.serving_dir
  if os.path.lexists(serving) and not os.path.isdir(serving):
    raise RunError(
      f'error: {serving} is a file, not the serving folder; move it aside '
      f'(mv {serving} {serving}.bak) and rerun'
    )
  aside = os.path.join(serving, INTERRUPTED_DIR)
  if os.path.lexists(aside) and not os.path.isdir(aside):
    raise RunError(
      f'error: {aside} is a file, not the folder where versions of interrupted pushes are set '
      f'aside; move it aside (mv {aside} {serving}/interrupted.bak) and rerun'
    )
  if not sqlite:
    return None
  store = paths.metadata_path
  versions = [str(v) for v in serving_dir.versions(serving)]
  if os.path.lexists(store):
    problem = store_lib.sqlite_problem(store)
  else:
    problem = f'missing while {serving} holds versions {", ".join(versions)}' if versions else None
  if problem is None:
    return None
  if not fresh_store:
    move = (
      f'move it aside (mv {store} {store}.bak) or ' if os.path.lexists(store) else 'restore it, or '
    )
    raise RunError(
      f'error: ML Metadata store {store} is {problem}: {move}rerun with --fresh-store '
      'to start a new store (the versions in serving/ are kept)'
    )
  moved = None
  if os.path.lexists(store):
    moved = f'{store}.{datetime.datetime.now().strftime("%Y%m%dT%H%M%S")}.bak'
    os.rename(store, moved)
    with contextlib.suppress(FileNotFoundError):
      os.rename(store + store_lib.JOURNAL_SUFFIX, moved + store_lib.JOURNAL_SUFFIX)
  metadata_store.MetadataStore(store_lib.sqlite_config(store, read_only=False))  # creates it
  return moved


def _existing_store(metadata_config):
  """The store, when there is one yet (a run's first SQLite store is made by the run)."""
  if metadata_config.HasField('sqlite') and not os.path.exists(metadata_config.sqlite.filename_uri):
    return None
  try:
    return store_lib.open_store(metadata_config)
  except store_lib.StoreError as e:
    raise RunError(f'error: {e}') from None


def check_data_set(metadata_config, paths: LocalPaths, identity: DataIdentity) -> None:
  """RunError (exit 2) when the output dir holds the models of another data set or class list
  (pipeline/local/data_claim.py); before any data is read."""
  data_claim.check(paths, identity, _existing_store(metadata_config))


def pipeline_root(metadata_config, paths: LocalPaths, identity: DataIdentity) -> Tuple[str, bool]:
  """(the pipeline root of this store, whether it is new beside an earlier store's one:
  pipeline/local/store_root.py); the store is made if it is not there yet, and the output dir
  records its data set (data_claim.record)."""
  store = metadata_store.MetadataStore(metadata_config)
  found = store_root.pipeline_root(store, paths)
  data_claim.record(paths, identity)
  return found


def metadata_connection(args, paths: LocalPaths):
  """MySQL when --mysql-host is given (checked now: a wrong password is one line here, not a
  failed component later), else the output dir's SQLite file."""
  mysql = store_lib.mysql_config(args)
  if not mysql:
    return store_lib.sqlite_config(paths.metadata_path, read_only=False)
  try:
    store_lib.open_store(mysql)
  except store_lib.StoreError as e:
    raise RunError(f'error: {e}') from None
  return mysql
