"""A damaged ML Metadata store is called corrupt, in one line with the way out, by the read-side
tools: whether SQLite refuses the file at once or only a page deep inside it is damaged (which
ML Metadata used to report mid-command as a traceback)."""

import os
import shutil

import pytest

from inspection import cli
from pipeline.commands import ExitCode

FIXTURE = os.path.join(os.path.dirname(__file__), 'fixtures', 'two_runs', 'metadata.sqlite')


def _damage_every_page_but_the_schema(path):
  data = bytearray(open(FIXTURE, 'rb').read())
  for page in range(8192, len(data), 4096):
    data[page + 100 : page + 400] = b'\xff' * 300
  with open(path, 'wb') as f:
    f.write(data)


@pytest.mark.parametrize('damage', ['random bytes', 'truncated', 'pages overwritten'])
def test_a_corrupt_store_is_called_corrupt_in_one_line(tmp_path, capsys, damage):
  store = str(tmp_path / 'metadata.sqlite')
  if damage == 'random bytes':
    with open(store, 'wb') as f:
      f.write(os.urandom(20000))
  elif damage == 'truncated':
    with open(FIXTURE, 'rb') as f:
      data = f.read()
    with open(store, 'wb') as f:
      f.write(data[:60000])
  else:
    _damage_every_page_but_the_schema(store)
  before = open(store, 'rb').read()
  assert cli.main(['--output-dir', str(tmp_path), 'runs']) == ExitCode.FAILED
  err = capsys.readouterr().err
  assert len(err.strip().splitlines()) == 1, err
  assert 'the ML Metadata store is corrupt' in err and '--fresh-store' in err
  assert 'concurrent' not in err and 'Traceback' not in err
  assert open(store, 'rb').read() == before, 'a reader never changes a damaged store'


def test_an_intact_store_still_reads(tmp_path, capsys):
  shutil.copy(FIXTURE, tmp_path / 'metadata.sqlite')
  assert cli.main(['--output-dir', str(tmp_path), 'runs']) == 0
  assert '2026-12-07T18:44:10.368226' in capsys.readouterr().out
