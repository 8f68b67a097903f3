"""Whole local runs on one output dir, as an adversarial user makes them: a second run while the
first holds the output dir, a run killed mid-Trainer, secrets on the command line with --verbose.
Small subsets (3000 / 1000 examples), so each test takes seconds to a minute."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from components.lib import mlmd, serving_dir
from pipeline.local import lock as local
from pipeline.paths import LocalPaths
from tests.conftest import REPO, run_py

pytestmark = pytest.mark.slow


def _common(mnist_dir, output_dir, epochs='1'):
  return [
    'local_runner.py',
    '--data-dir',
    mnist_dir,
    '--output-dir',
    output_dir,
    '--train-examples',
    '3000',
    '--eval-examples',
    '1000',
    '--epochs',
    epochs,
  ]


def _start(args):
  return subprocess.Popen(
    [sys.executable, *args],
    cwd=REPO,
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    text=True,
    env=dict(os.environ, PYTHONUNBUFFERED='1'),
  )


def _inspect(capsys, output_dir, *args):
  """`python -m inspection --output-dir output_dir ...`, in this process (seconds saved)."""
  from inspection import cli as cli

  capsys.readouterr()
  code = cli.main(['--output-dir', output_dir, *args])
  out, err = capsys.readouterr()
  assert code == 0, err
  return out


def _runs(capsys, output_dir):
  return json.loads(_inspect(capsys, output_dir, '--json', 'runs'))


def _run_id(stdout):
  return re.search(r'^ML Metadata:\s+\S+ \(run (\S+)\)$', stdout, re.M).group(1)


def test_one_run_at_a_time_and_each_summarises_its_own(tmp_path, mnist_dir, capsys):
  output_dir = str(tmp_path / 'D')
  first = _start(_common(mnist_dir, output_dir) + ['--accuracy-threshold', '0.5'])
  lock_path, record = LocalPaths.under(output_dir).lock_path, {}
  deadline = time.monotonic() + 120
  while record.get('pid') != first.pid:
    assert first.poll() is None and time.monotonic() < deadline, first.communicate()
    time.sleep(0.1)
    try:
      record = json.loads(open(lock_path).read() or '{}')
    except (OSError, ValueError):
      pass

  # A real second process while the first holds the output dir: refused at once, in one line.
  second = run_py(*_common(mnist_dir, output_dir), '--accuracy-threshold', '0.1')
  assert second.returncode == 1, second.stdout + second.stderr
  assert second.stdout == ''
  [line] = second.stderr.splitlines()
  assert line.startswith(f'error: {output_dir} is in use by another run (pid {first.pid}, started ')
  assert f', run {record["run_id"]})' in line

  out, err = first.communicate(timeout=600)
  assert first.returncode == 0, out + err
  assert first.poll() is not None and _run_id(out) == record['run_id']
  version = re.search(r'^Pushed:\s+\S+/serving/(\d+) \(version \1\)$', out, re.M).group(1)

  # After it, the next run goes ahead; it is not blessed, and it says so of itself.
  third = run_py(*_common(mnist_dir, output_dir), '--accuracy-threshold', '0.9999')
  assert third.returncode == 3, third.stdout + third.stderr
  assert 'Pushed:          nothing (the model being served' in third.stdout
  assert _run_id(third.stdout) != record['run_id']

  newest, oldest = _runs(capsys, output_dir)
  assert (oldest['run_id'], oldest['state'], oldest['blessed'], oldest['pushed_version']) == (
    record['run_id'],
    'complete',
    True,
    version,
  )
  assert (newest['run_id'], newest['state'], newest['blessed'], newest['pushed_version']) == (
    _run_id(third.stdout),
    'complete',
    False,
    None,
  )
  assert newest['runner']['pid'] != oldest['runner']['pid'] == first.pid


def test_a_run_killed_mid_trainer_shows_as_interrupted(tmp_path, mnist_dir, capsys):
  output_dir = str(tmp_path / 'D')
  proc = _start(_common(mnist_dir, output_dir, epochs='30') + ['--accuracy-threshold', '0.5'])
  try:
    for line in proc.stdout:
      if line.startswith('Trainer: training'):
        break
    [running] = _runs(capsys, output_dir)  # while it trains
    assert running['state'] == 'running' and running['component_states']['Trainer'] == 'RUNNING'
  finally:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
  assert proc.returncode == -signal.SIGKILL

  [killed] = _runs(capsys, output_dir)
  assert killed['state'] == 'interrupted' and killed['runner']['pid'] == proc.pid
  assert killed['component_states']['Trainer'] == 'INTERRUPTED'
  assert killed['component_states']['MnistExampleGen'] == 'COMPLETE'
  table = _inspect(capsys, output_dir, 'runs')
  assert 'interrupted' in table and 'running' not in table.lower()
  assert local.lock_holder(output_dir) is None  # the kernel let go of the output dir


def test_verbose_prints_no_secret(tmp_path, mnist_dir):
  secrets = {'MLMD_MYSQL_PASSWORD': 'mysql-pw-S3CRET1', 'AWS_SECRET_ACCESS_KEY': 'aws-env-S3CRET2'}
  beam_args = (
    '--aws_secret_access_key=beam-S3CRET3 --password=beam-S3CRET4 '
    '--flink_master=http://bob:url-S3CRET5@flink:8081'
  )
  proc = run_py(
    *_common(mnist_dir, str(tmp_path / 'D')),
    '--accuracy-threshold',
    '0.5',
    '--verbose',
    '--beam-args',
    beam_args,
    env=secrets,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  printed = proc.stdout + proc.stderr
  assert 'S3CRET' not in printed
  # What TFX and Beam would have shown: their lines are there, with the values masked.
  assert 'beam_pipeline_args: "--aws_secret_access_key=***"' in proc.stderr
  assert 'beam_pipeline_args: "--flink_master=http://flink:8081"' in proc.stderr
  assert (
    "Discarding unparseable args: ['--aws_secret_access_key=***', '--password=***']" in proc.stderr
  )
  # Nor is any kept: not in the ML Metadata store, a log, a record or an artifact of the run.
  kept = [
    os.path.join(folder, name)
    for folder, _, names in os.walk(tmp_path / 'D')
    for name in names
    if b'S3CRET' in open(os.path.join(folder, name), 'rb').read()
  ]
  assert kept == []


def _pushes_ml_metadata_records(output_dir):
  from inspection import runs
  from pipeline import store as store_lib

  store = store_lib.open_store(
    store_lib.sqlite_config(LocalPaths.under(output_dir).metadata_path, True)
  )
  return sorted(
    mlmd.custom_value(a, 'pushed_destination')
    for a in runs.artifacts_by_type(store, 'PushedModel')
    if mlmd.custom_value(a, 'pushed')
  )


def test_killed_between_the_rename_and_the_record(tmp_path, mnist_dir):
  """The run dies right after the Pusher renamed the version into place, before the execution is
  recorded: the next run moves that version aside (whole, not served), pushes again, and ML
  Metadata agrees with the dir."""
  output_dir = str(tmp_path / 'D')
  serving = LocalPaths.under(output_dir).serving_dir
  die_after_rename = (
    'import os, runpy, sys; from components import mnist_pusher as p; publish = p.publish_version\n'
    'def publish_then_die(*a): publish(*a); os._exit(137)\n'
    'p.publish_version = publish_then_die\n'
    'sys.argv = sys.argv[1:]; runpy.run_path("local_runner.py", run_name="__main__")\n'
  )
  killed = run_py(
    '-c', die_after_rename, *_common(mnist_dir, output_dir), '--accuracy-threshold', '0.5'
  )
  assert killed.returncode == 137, killed.stdout + killed.stderr
  [orphan] = serving_dir.versions(serving)
  assert _pushes_ml_metadata_records(output_dir) == []  # the store never heard of it
  # What a person left there: a version copied from another output dir, a folder that is no
  # version, and names like a push's leftovers. All stay, each kind named in one line.
  copied = os.path.join(serving, '100')
  shutil.copytree(os.path.join(serving, str(orphan)), copied)
  with open(os.path.join(copied, serving_dir.PROVENANCE_FILE), 'w') as f:
    json.dump({serving_dir.PUSHED_MODEL_URI: '/elsewhere/pipeline_root/Pusher/pushed_model/9'}, f)
  person = ['²', '.pushing-backup', 'models.config.tmp-mine']
  os.makedirs(os.path.join(serving, '²'))
  os.makedirs(os.path.join(serving, '.pushing-backup'))
  with open(os.path.join(serving, '.pushing-backup', 'notes.txt'), 'w') as f:
    f.write('mine')
  with open(os.path.join(serving, 'models.config.tmp-mine'), 'w') as f:
    f.write('mine')
  again = run_py(*_common(mnist_dir, output_dir), '--accuracy-threshold', '0.5')
  assert again.returncode == 0, again.stdout + again.stderr
  aside = os.path.join(serving, '.interrupted', str(orphan))
  assert (
    f'Moved {os.path.join(serving, str(orphan))} aside to {aside}: an interrupted run pushed it'
    in again.stdout
  )
  assert f'Set aside:       {aside} (an interrupted push' in again.stdout
  assert os.path.exists(os.path.join(aside, 'saved_model.pb'))
  lines = again.stdout.splitlines()
  assert (
    f'Kept {copied}: not vouched for by this store (pushed from another pipeline root '
    '(/elsewhere/pipeline_root/Pusher/pushed_model/9))' in lines
  )
  assert (
    f'Ignored in {serving}: ² (not version numbers: a server loads only folders named by a plain '
    'decimal number)' in lines
  )
  assert (
    f'Left alone in {serving}: .pushing-backup, models.config.tmp-mine (named like the leftovers '
    'of a push, but no push made them)' in lines
  )
  versions = serving_dir.versions(serving)
  assert len(versions) == 2 and versions[0] == 100 and versions[1] > orphan
  assert _pushes_ml_metadata_records(output_dir) == [os.path.join(serving, str(versions[1]))]
  assert sorted(os.listdir(serving)) == sorted(
    ['.interrupted', '100', str(versions[1]), 'models.config', *person]
  )
  assert open(os.path.join(serving, '.pushing-backup', 'notes.txt')).read() == 'mine'


def _tree(root):
  """{relative path: bytes} of every file under `root`."""
  found = {}
  for folder, _, files in os.walk(root):
    for name in files:
      with open(os.path.join(folder, name), 'rb') as f:
        found[os.path.relpath(os.path.join(folder, name), root)] = f.read()
  return found


def test_fresh_store_completes_and_keeps_every_old_file(tmp_path, mnist_dir):
  """The documented way out of a damaged store: the new store's runs write into a pipeline root
  of their own (its execution ids start at 1 again), so nothing collides with, or is cleaned up
  from, what the old store's runs wrote; the old versions stay, not vouched for."""
  output_dir = str(tmp_path / 'D')
  paths = LocalPaths.under(output_dir)
  first = run_py(*_common(mnist_dir, output_dir), '--accuracy-threshold', '0.5')
  assert first.returncode == 0, first.stdout + first.stderr
  [old_version] = serving_dir.versions(paths.serving_dir)
  old_files = _tree(paths.pipeline_root)
  with open(paths.data_set_path) as f:
    assert json.load(f) == {'dataset': 'mnist', 'class_names': [str(i) for i in range(10)]}
  open(paths.metadata_path, 'wb').close()  # a 0-byte store: the documented line, then the way out
  refused = run_py(*_common(mnist_dir, output_dir))
  assert refused.returncode == 1
  assert refused.stderr.startswith(f'error: ML Metadata store {paths.metadata_path} is empty')
  fresh = run_py(*_common(mnist_dir, output_dir), '--accuracy-threshold', '0.5', '--fresh-store')
  assert fresh.returncode == 0, fresh.stdout + fresh.stderr
  new_root = paths.pipeline_root_generation(2)
  assert f'Pipeline root: {new_root} (a new store writes beside' in fresh.stdout
  assert (
    f'Kept {os.path.join(paths.serving_dir, str(old_version))}: not vouched for by this store '
    '(pushed from another pipeline root' in fresh.stdout
  )
  assert _tree(paths.pipeline_root) == old_files  # nothing deleted, nothing written over
  assert os.path.isdir(os.path.join(new_root, 'ImportSchemaGen', 'schema', '1'))
  versions = serving_dir.versions(paths.serving_dir)
  assert len(versions) == 2 and versions[0] == old_version
  assert _pushes_ml_metadata_records(output_dir) == [
    os.path.join(paths.serving_dir, str(versions[1]))
  ]


def test_beam_multi_processing_from_another_working_directory(tmp_path, mnist_dir):
  """Beam's worker processes unpickle the ExampleGen's transforms by module name: they must find
  the project wherever the runner was started from, with no PYTHONPATH of the user's."""
  env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
  output_dir = str(tmp_path / 'D')
  proc = subprocess.run(
    [
      sys.executable,
      os.path.join(REPO, 'local_runner.py'),
      '--data-dir',
      mnist_dir,
      '--output-dir',
      output_dir,
      '--train-examples',
      '600',
      '--eval-examples',
      '300',
      '--epochs',
      '1',
      '--validation-examples',
      '0',
      '--accuracy-threshold',
      '0.1',
      '--beam-args',
      '--direct_running_mode=multi_processing --direct_num_workers=2',
    ],
    cwd=str(tmp_path),
    env=env,
    capture_output=True,
    text=True,
    timeout=900,
  )
  assert proc.returncode == 0, proc.stdout + proc.stderr
  assert re.search(r'^MnistExampleGen\s+[\d.]+ s \(train 600, eval 300\)$', proc.stdout, re.M)
  # The workers' own warnings stay off the console too.
  assert 'Traceback' not in proc.stderr and 'FutureWarning' not in proc.stderr, proc.stderr
