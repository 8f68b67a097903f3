"""A run killed mid-write leaves a hot rollback journal (metadata.sqlite-journal) beside the store;
a read-only reader cannot roll it back and ML Metadata then fails with its raw SQL. The inspector,
which writes nothing, reads a rolled-back copy; while a run holds the output dir, it says so in one
line."""

import os
import signal
import subprocess
import sys

import pytest

from pipeline.paths import LocalPaths
from tests.pipeline.local.test_lock import holding

# A write transaction bigger than SQLite's page cache, so that the store file itself is already
# half-rewritten when the process is killed: only the journal can bring it back.
KILLED_MID_WRITE = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute('PRAGMA cache_size=1')
db.execute('BEGIN')
for (table,) in db.execute(
  "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
).fetchall():
  db.execute(f'DELETE FROM "{table}"')
print('mid-write', flush=True)
time.sleep(120)
"""


def _kill_mid_write(sqlite_path):
  proc = subprocess.Popen(
    [sys.executable, '-c', KILLED_MID_WRITE, sqlite_path], stdout=subprocess.PIPE, text=True
  )
  assert proc.stdout.readline().strip() == 'mid-write'
  proc.send_signal(signal.SIGKILL)
  proc.wait(timeout=30)
  journal = sqlite_path + '-journal'
  assert os.path.getsize(journal) > 0
  return journal


def _read_only_mlmd_fails(sqlite_path):
  """What every reader met before: ML Metadata's read-only open fails on the hot journal."""
  from ml_metadata import metadata_store

  from pipeline import store as store_lib

  with pytest.raises(Exception, match='readonly'):
    metadata_store.MetadataStore(
      store_lib.sqlite_config(sqlite_path, read_only=True)
    ).get_context_types()


def _inspect(capsys, output_dir):
  """`python -m inspection --output-dir output_dir runs`, in this process (seconds saved)."""
  from inspection import cli as cli

  capsys.readouterr()
  code = cli.main(['--output-dir', output_dir, 'runs'])
  out, err = capsys.readouterr()
  return code, out, err


def _contents(*paths):
  return [open(path, 'rb').read() for path in paths]


def test_the_inspector_reads_a_killed_write_as_it_was_before_and_writes_nothing(recorded, capsys):
  output_dir, _ = recorded
  sqlite_path = LocalPaths.under(output_dir).metadata_path
  journal = _kill_mid_write(sqlite_path)
  _read_only_mlmd_fails(sqlite_path)
  before = _contents(sqlite_path, journal)
  code, out, err = _inspect(capsys, output_dir)
  assert code == 0, err
  assert len(out.splitlines()) == 3 and err == ''  # header + the two runs, intact
  assert _contents(sqlite_path, journal) == before  # neither the store nor its journal touched
  _read_only_mlmd_fails(sqlite_path)  # the next run's read-write open rolls it back


def test_while_a_run_holds_the_output_dir_it_is_one_line(recorded, capsys):
  output_dir, _ = recorded
  sqlite_path = LocalPaths.under(output_dir).metadata_path
  journal = _kill_mid_write(sqlite_path)
  with holding(output_dir):
    code, _, err = _inspect(capsys, output_dir)
  assert code == 1
  [line] = err.splitlines()
  assert line.startswith(
    f'error: {sqlite_path}: cannot open the ML Metadata store (metadata.sqlite-journal '
    'is pending: a run is writing to it, or was killed mid-write;'
  ), line
  assert 'query' not in line and 'CREATE TABLE' not in line
  assert os.path.getsize(journal) > 0  # left alone for the run that holds the output dir
