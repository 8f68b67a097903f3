"""Every broken output dir gets one line and a way out, and loses nothing: serving/ that is a
file, a store that is corrupt or missing while versions exist (--fresh-store starts a new one
and keeps the versions), a lock file that cannot be opened, an --output-dir that is a URI. All
refused before any data is looked for, so these run in seconds without TensorFlow."""

import os
import shutil
import sqlite3
import time

import pytest

import local_runner
from components.lib import data_identity
from pipeline.paths import LocalPaths
from tests.inspection.make_fixture import FIXTURE_DIR


def _run(capsys, *args):
  code = local_runner.main(['--data-dir', '/nonexistent-data', *args])
  out, err = capsys.readouterr()
  return code, out, err


def _one_error_line(err):
  lines = err.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: ') and 'Traceback' not in err, err
  return lines[0]


def _output_dir(tmp_path, versions=(1, 2)):
  output_dir = str(tmp_path / 'D')
  shutil.copytree(FIXTURE_DIR, output_dir)
  for version in versions:
    folder = os.path.join(output_dir, 'serving', str(version))
    os.makedirs(folder)
    with open(os.path.join(folder, 'saved_model.pb'), 'w') as f:
      f.write(f'model {version}')
  return output_dir, LocalPaths.under(output_dir)


@pytest.mark.parametrize('uri', ['s3://bucket/out', 'gs://bucket/out'])
def test_output_dir_uri_is_refused_with_one_line(tmp_path, capsys, monkeypatch, uri):
  monkeypatch.chdir(tmp_path)
  code, _, err = _run(capsys, '--output-dir', uri)
  assert code == 2
  assert _one_error_line(err).startswith(f'error: --output-dir {uri}: must be a local directory')
  assert os.listdir(tmp_path) == []  # no ./s3:/bucket/out


def test_serving_that_is_a_file(tmp_path, capsys):
  output_dir, paths = _output_dir(tmp_path, versions=())
  with open(paths.serving_dir, 'w') as f:
    f.write('not a folder')
  code, _, err = _run(capsys, '--output-dir', output_dir)
  assert code == 1
  assert _one_error_line(err) == (
    f'error: {paths.serving_dir} is a file, not the serving folder; '
    f'move it aside (mv {paths.serving_dir} {paths.serving_dir}.bak) and rerun'
  )
  assert open(paths.serving_dir).read() == 'not a folder'


def test_corrupt_store_is_called_corrupt_and_left_as_it_was(tmp_path, capsys):
  output_dir, paths = _output_dir(tmp_path)
  with open(paths.metadata_path, 'r+b') as f:
    f.write(b'garbage, not SQLite' * 10)
  before = open(paths.metadata_path, 'rb').read()
  code, _, err = _run(capsys, '--output-dir', output_dir)
  assert code == 1
  line = _one_error_line(err)
  assert line.startswith(f'error: ML Metadata store {paths.metadata_path} is corrupt (')
  assert f'mv {paths.metadata_path} {paths.metadata_path}.bak' in line and '--fresh-store' in line
  assert open(paths.metadata_path, 'rb').read() == before
  assert sorted(os.listdir(paths.serving_dir)) == ['1', '2']


def test_missing_store_while_versions_exist(tmp_path, capsys):
  output_dir, paths = _output_dir(tmp_path)
  os.remove(paths.metadata_path)
  code, _, err = _run(capsys, '--output-dir', output_dir)
  assert code == 1
  assert _one_error_line(err) == (
    f'error: ML Metadata store {paths.metadata_path} is missing while {paths.serving_dir} holds '
    'versions 1, 2: restore it, or rerun with --fresh-store to start a new store (the versions in '
    'serving/ are kept)'
  )
  assert not os.path.exists(paths.metadata_path)


@pytest.mark.parametrize('damage', ['corrupt', 'missing'])
def test_fresh_store_moves_the_old_one_aside_and_keeps_the_versions(tmp_path, capsys, damage):
  output_dir, paths = _output_dir(tmp_path)
  if damage == 'corrupt':
    with open(paths.metadata_path, 'wb') as f:
      f.write(b'garbage, not SQLite' * 10)
  else:
    os.remove(paths.metadata_path)
  code, out, err = _run(capsys, '--output-dir', output_dir, '--fresh-store')
  # On to the data, which is missing here: the output dir itself was accepted.
  assert code == 1 and 'nonexistent-data' in _one_error_line(err)
  aside = [n for n in os.listdir(output_dir) if n.startswith('metadata.sqlite.')]
  if damage == 'corrupt':
    assert len(aside) == 1 and f'aside to {os.path.join(output_dir, aside[0])}' in out
    assert open(os.path.join(output_dir, aside[0]), 'rb').read().startswith(b'garbage')
  else:
    assert aside == []
  from pipeline import store as store_lib

  store_lib.open_store(
    store_lib.sqlite_config(paths.metadata_path, read_only=True)
  )  # a new, empty store
  assert sorted(os.listdir(paths.serving_dir)) == ['1', '2']


@pytest.mark.parametrize(
  'kind, reason', [('directory', 'Is a directory'), ('fifo', 'it is a FIFO, not a regular file')]
)
def test_lock_file_that_cannot_be_opened(tmp_path, capsys, kind, reason):
  """A folder is as unopenable for O_RDWR as a file without permissions, even for root; a FIFO
  would block the run that opened it. Either is one line at once, and the run exits 1."""
  output_dir, paths = _output_dir(tmp_path)
  if kind == 'directory':
    os.mkdir(paths.lock_path)
  else:
    os.mkfifo(paths.lock_path)
  started = time.monotonic()
  code, _, err = _run(capsys, '--output-dir', output_dir)
  assert code == 1 and time.monotonic() - started < 30
  assert _one_error_line(err) == (
    f"error: {paths.lock_path}: this output dir's run lock cannot be opened ({reason}); "
    f'if no run is using {paths.output_dir}, remove it (rm -r {paths.lock_path}) and rerun'
  )


def test_an_interrupted_folder_that_is_a_file(tmp_path, capsys):
  output_dir, paths = _output_dir(tmp_path)
  aside = os.path.join(paths.serving_dir, '.interrupted')
  with open(aside, 'w') as f:
    f.write('notes')
  code, _, err = _run(capsys, '--output-dir', output_dir)
  assert code == 1
  assert _one_error_line(err) == (
    f'error: {aside} is a file, not the folder where versions of interrupted pushes are set '
    f'aside; move it aside (mv {aside} {paths.serving_dir}/interrupted.bak) and rerun'
  )
  assert open(aside).read() == 'notes'


def _truncated(path):
  with open(path, 'rb') as f:
    head = f.read(4096)
  with open(path, 'wb') as f:
    f.write(head)


def _fifo(path):
  os.remove(path)
  os.mkfifo(path)


def _another_database(path):
  os.remove(path)
  with sqlite3.connect(path) as db:
    db.execute('CREATE TABLE notes (text)')


STORE_DAMAGE = {
  'empty': (
    lambda path: open(path, 'wb').close(),
    'is empty (0 bytes: no ML Metadata store in it)',
  ),
  'truncated': (_truncated, 'is corrupt (database disk image is malformed)'),
  'a FIFO': (_fifo, 'is a FIFO, not a regular file'),
  'another database': (_another_database, 'is another SQLite database (no ML Metadata tables'),
}


@pytest.mark.parametrize('damage', list(STORE_DAMAGE))
def test_a_store_that_is_no_store_gets_the_documented_line(tmp_path, capsys, damage):
  """The run's pre-flight and `inspect` both say what the file is, with the way out, at once."""
  output_dir, paths = _output_dir(tmp_path)
  make, what = STORE_DAMAGE[damage]
  make(paths.metadata_path)
  started = time.monotonic()
  code, _, err = _run(capsys, '--output-dir', output_dir)
  assert code == 1
  line = _one_error_line(err)
  assert line.startswith(f'error: ML Metadata store {paths.metadata_path} {what}'), line
  assert '--fresh-store' in line
  from inspection import cli

  assert cli.main(['--output-dir', output_dir, 'runs']) == 1
  line = _one_error_line(capsys.readouterr().err)
  assert line.startswith(f'error: {paths.metadata_path}: the ML Metadata store {what}'), line
  assert '--fresh-store' in line
  assert time.monotonic() - started < 30
  code, out, err = _run(capsys, '--output-dir', output_dir, '--fresh-store')
  assert code == 1 and 'nonexistent-data' in _one_error_line(err)  # on to the data
  assert 'Moved the ML Metadata store aside to' in out
  assert sorted(os.listdir(paths.serving_dir)) == ['1', '2']


def test_an_output_dir_of_another_data_set_is_refused_before_the_data(tmp_path, capsys):
  output_dir, paths = _output_dir(tmp_path)
  with open(paths.data_set_path, 'w') as f:
    f.write(data_identity.of_dataset('mnist').to_json())
  code, _, err = _run(capsys, '--output-dir', output_dir, '--dataset', 'fashion-mnist')
  assert code == 2
  assert _one_error_line(err) == (
    f'error: {output_dir} holds the models of mnist (classes 0, 1, 2, … 10 in all); this run is '
    'on fashion-mnist (classes T-shirt/top, Trouser, Pullover, … 10 in all): pass another '
    '--output-dir (a model is compared with and served beside models of its own data set and '
    'classes only)'
  )
  code, _, err = _run(capsys, '--output-dir', output_dir, '--dataset', 'mnist')
  assert code == 1 and 'nonexistent-data' in _one_error_line(err)  # the same set: on to the data


def test_a_data_set_record_that_is_not_one_is_refused_and_kept(tmp_path, capsys):
  output_dir, paths = _output_dir(tmp_path)
  with open(paths.data_set_path, 'w') as f:
    f.write('["mnist"]')
  code, _, err = _run(capsys, '--output-dir', output_dir)
  assert code == 1
  assert _one_error_line(err) == (
    f'error: {paths.data_set_path}: not a record of a data set and its classes; it says which '
    'data set the models in this output dir are of: move it aside (mv '
    f'{paths.data_set_path} {paths.data_set_path}.bak) and rerun, or pass another --output-dir'
  )
  assert open(paths.data_set_path).read() == '["mnist"]'


@pytest.mark.parametrize('flag', ['--data-dir', '--infer-dir'])
def test_credentials_in_a_data_url_are_refused_and_never_shown(tmp_path, capsys, flag):
  """No file system takes keys from a URL, and the location is kept in ML Metadata: a bad flag
  (exit 2), one line naming the bucket, before the output dir is made."""
  output_dir = str(tmp_path / 'D')
  code, out, err = _run(
    capsys, flag, 's3://AKIAINURL:s3cr3t-in-url@mnist-tfx/data', '--output-dir', output_dir
  )
  assert code == 2 and out == ''
  assert _one_error_line(err) == (
    f'error: {flag} s3://mnist-tfx/data: credentials in the URI are not used and would be kept '
    'in ML Metadata; give them in the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, '
    'or GOOGLE_APPLICATION_CREDENTIALS)'
  )
  assert 's3cr3t' not in err and 'AKIAINURL' not in err and not os.path.exists(output_dir)
