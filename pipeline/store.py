"""Where ML Metadata lives: SQLite (local default), MySQL/MariaDB, or an MLMD gRPC service (as on
Kubeflow), and how to open it with one line for every way that fails. Shared by the local run
and the read side (inspection/)."""

import argparse
import atexit
import contextlib
import os
import re
import shlex
import shutil
import sqlite3
import tempfile
import time
import urllib.parse
from typing import Optional

from ml_metadata.proto import metadata_store_pb2

from components.lib import local_files
from pipeline.flags import port_number
from pipeline.local.lock import lock_holder

MYSQL_PORT, MYSQL_DATABASE, MYSQL_USER = 3306, 'mlmd', 'root'
MYSQL_PASSWORD_ENV = 'MLMD_MYSQL_PASSWORD'  # never a flag: flags end up in shell history and ps


class StoreError(RuntimeError):
  """The store is missing, unreachable or unreadable; the message is one line."""


def add_mysql_arguments(parser: argparse.ArgumentParser, defaults: bool = True) -> None:
  """The MySQL options; defaults=False leaves them unset when not given (a subcommand's copy)."""

  def default(value):
    return value if defaults else argparse.SUPPRESS

  group = parser.add_argument_group(
    'ML Metadata in MySQL/MariaDB (instead of SQLite)',
    f'the password is read from ${MYSQL_PASSWORD_ENV}',
  )
  group.add_argument(
    '--mysql-host',
    metavar='HOST',
    default=default(None),
    help='the MySQL/MariaDB server (default: SQLite in the output dir)',
  )
  group.add_argument(
    '--mysql-port',
    type=port_number,
    default=default(MYSQL_PORT),
    metavar='PORT',
    help=f'its port (default: {MYSQL_PORT})',
  )
  group.add_argument(
    '--mysql-database',
    default=default(MYSQL_DATABASE),
    metavar='NAME',
    help=f'the database (default: {MYSQL_DATABASE})',
  )
  group.add_argument(
    '--mysql-user',
    default=default(MYSQL_USER),
    metavar='USER',
    help=f'the user (default: {MYSQL_USER})',
  )


def mysql_config(args, env=None) -> Optional[metadata_store_pb2.ConnectionConfig]:
  if not getattr(args, 'mysql_host', None):
    return None
  env = os.environ if env is None else env
  config = metadata_store_pb2.ConnectionConfig()
  config.mysql.host = args.mysql_host
  config.mysql.port = args.mysql_port
  config.mysql.database = args.mysql_database
  config.mysql.user = args.mysql_user
  config.mysql.password = env.get(MYSQL_PASSWORD_ENV, '')
  return config


def store_options(config) -> str:
  """The read tools' options that reach the store `config` names, beyond --output-dir (which
  names a SQLite store): so that a printed command reads the store the run wrote. The password
  stays in the environment."""
  if isinstance(config, metadata_store_pb2.ConnectionConfig) and config.HasField('mysql'):
    m = config.mysql
    return (
      f'--mysql-host {shlex.quote(m.host)} --mysql-port {m.port} '
      f'--mysql-database {shlex.quote(m.database)} --mysql-user {shlex.quote(m.user)}'
    )
  return ''


def sqlite_config(path: str, read_only: bool) -> metadata_store_pb2.ConnectionConfig:
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = path
  config.sqlite.connection_mode = (
    metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    if read_only
    else metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
  )
  return config


def describe(config) -> str:
  if isinstance(config, metadata_store_pb2.MetadataStoreClientConfig):
    return f'MLMD gRPC service {config.host}:{config.port}'
  if config.HasField('mysql'):
    return (
      f'MySQL {config.mysql.user}@{config.mysql.host}:{config.mysql.port}/{config.mysql.database}'
    )
  return config.sqlite.filename_uri


JOURNAL_SUFFIX = '-journal'  # SQLite's rollback journal beside the store


def error_line(error: BaseException) -> str:
  """ML Metadata's error as one line, without the SQL it was running."""
  text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
  text = re.sub(r'^Error when executing query: ', '', text)
  return re.split(r'\s+query:\s', text, maxsplit=1)[0].strip()


def rolled_back_copy(path: str) -> Optional[str]:
  """A store that a killed run left half-written (a "hot" rollback journal beside it) cannot be
  read read-only until SQLite rolls it back, which is a write. The read side writes nothing: it
  copies the store and its journal into a temporary folder (removed at exit) and lets SQLite roll
  the copy back. Returns the copy's path; None when there is nothing to roll back, or while a run
  holds the output dir (the journal is that run's, and live)."""
  journal = path + JOURNAL_SUFFIX
  if not (os.path.exists(journal) and os.path.getsize(journal) > 0):
    return None
  if lock_holder(os.path.dirname(path)) is not None:
    return None
  folder = tempfile.mkdtemp(prefix='mnist-tfx-store-')
  atexit.register(shutil.rmtree, folder, True)
  copy = os.path.join(folder, os.path.basename(path))
  try:
    # The journal first: should a run roll the store back in between, the copy is rolled back
    # twice with the same pages, which changes nothing.
    shutil.copyfile(journal, copy + JOURNAL_SUFFIX)
    shutil.copyfile(path, copy)
    with contextlib.closing(sqlite3.connect(copy, timeout=10)) as db:
      db.execute('SELECT count(*) FROM sqlite_master').fetchone()  # rolls the copy back
  except (OSError, sqlite3.Error) as e:
    raise StoreError(
      f'{path}: a run was killed while writing to it, and reading it as it was before that '
      f'failed ({e}); run `mnist-tfx run` on this output dir once to roll it back'
    ) from None
  return copy


MLMD_TABLE = 'MLMDEnv'  # ML Metadata's own table (its schema version): every store has it


def sqlite_problem(path: str, read_only: bool = False) -> Optional[str]:
  """None if the file at `path` is an ML Metadata store that SQLite opens and finds sound (its
  quick check), else what is wrong, as a phrase that follows 'is': 'a FIFO, not a regular file'
  (SQLite would block on it), 'empty (…)', 'corrupt (…)', 'another SQLite database (…)', or
  'unusable (…)'. Read-write, it also rolls back a killed run's journal."""
  try:
    local_files.check_regular(path)
  except local_files.NotRegularFileError as e:
    return str(e).removeprefix('is ')
  except OSError as e:
    return f'unusable ({e.strerror or e})'
  if os.path.getsize(path) == 0:
    return 'empty (0 bytes: no ML Metadata store in it)'
  try:
    uri = 'file:' + urllib.parse.quote(path) + ('?mode=ro' if read_only else '?mode=rw')
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10)) as db:
      result = db.execute('PRAGMA quick_check(1)').fetchone()
      tables = db.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", (MLMD_TABLE,)
      ).fetchone()
  except sqlite3.DatabaseError as e:
    return (
      f'corrupt ({e})' if 'not a database' in str(e) or 'malformed' in str(e) else f'unusable ({e})'
    )
  if result and result[0] != 'ok':
    return f'corrupt ({" ".join(result[0].split())})'
  if not tables or not tables[0]:
    return 'another SQLite database (no ML Metadata tables in it)'
  return None


def _regular(path: str) -> bool:
  try:
    local_files.check_regular(path)
    return True
  except OSError:
    return False


def unsound(problem: Optional[str]) -> bool:
  """Whether sqlite_problem's answer is about the file itself (moving it aside or --fresh-store
  is the way out), not about reaching it (a permission, a lock)."""
  return bool(problem) and not str(problem).startswith('unusable')


def open_store(config, attempts: int = 5):
  """Opens an existing store; never creates one. A read-only SQLite store that a killed run left
  mid-write is read as it was before that write, from a rolled-back copy (rolled_back_copy)."""
  # Deferred: ML Metadata's native library reads its log settings as it loads, which must be
  # after the command set them (console.silence_native_logs).
  from ml_metadata import errors, metadata_store

  sqlite = isinstance(config, metadata_store_pb2.ConnectionConfig) and config.HasField('sqlite')
  read_only = (
    sqlite
    and config.sqlite.connection_mode == metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
  )
  named = describe(config)  # what messages name, even when a copy is read
  path = config.sqlite.filename_uri if sqlite else ''
  if sqlite:
    if not os.path.exists(path):
      raise StoreError(
        f'{path}: no ML Metadata store there '
        '(run the pipeline first, or pass --output-dir/--sqlite)'
      )
    problem = sqlite_problem(path, read_only=True) if not _regular(path) else None
    copy = rolled_back_copy(path) if read_only and not problem else None
    if copy:
      config = sqlite_config(copy, read_only=True)
    problem = problem or sqlite_problem(config.sqlite.filename_uri, read_only=True)
    if unsound(problem):
      raise StoreError(
        f'{path}: the ML Metadata store is {problem}; move it '
        'aside, or rerun `mnist-tfx run` on this output dir with --fresh-store '
        '(the versions in serving/ are kept)'
      )
  for attempt in range(attempts):
    try:
      store = metadata_store.MetadataStore(config)
      store.get_context_types()  # fails here, not later, if the store is unusable
      return store
    except (errors.StatusError, RuntimeError) as e:
      message = error_line(e)
      if sqlite and 'locked' in message and attempt + 1 < attempts:
        time.sleep(0.2)  # a run is committing
        continue
      if 'mysql_real_connect' in message:
        message = (
          f'cannot connect or log in: check host, port, user, database and ${MYSQL_PASSWORD_ENV}'
        )
      elif read_only and os.path.exists(path + JOURNAL_SUFFIX):
        message = (
          f'{os.path.basename(path)}{JOURNAL_SUFFIX} is pending: a run '
          'is writing to it, or was killed mid-write; try again, or run `mnist-tfx run` '
          'on this output dir once to roll it back'
        )
      raise StoreError(f'{named}: cannot open the ML Metadata store ({message})') from None
