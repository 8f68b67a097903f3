"""The push under faults: killed at every file operation (mid-file too), a write failing with a
full disk (simulated at every operation, and a real small tmpfs), a kill after the rename but
before ML Metadata records it. Afterwards the serving dir never holds an incomplete numbered
version, and the next push cleans up and succeeds."""

import ast
import builtins
import errno
import inspect
import json
import os
import subprocess
import time

import pytest
import tensorflow as tf
from tfx.dsl.io import fileio
from tfx.types import standard_artifacts

from components import mnist_pusher
from components.lib import serving_dir

KILLED = 137


@pytest.fixture(scope='module')
def saved_model(tmp_path_factory):
  """A real (tiny) SavedModel with variables, as the Trainer's model/Format-Serving."""
  uri = tmp_path_factory.mktemp('trainer') / 'model'

  class Tiny(tf.Module):
    def __init__(self):
      self.w = tf.Variable(tf.random.stateless_normal([256, 256], seed=[1, 2]))

    @tf.function(input_signature=[tf.TensorSpec([None, 256], tf.float32)])
    def __call__(self, x):
      return tf.matmul(x, self.w)

  tf.saved_model.save(Tiny(), str(uri / 'Format-Serving'))
  return str(uri)


def _files(root):
  found = {}
  for dirpath, _, names in os.walk(root):
    for name in names:
      with open(os.path.join(dirpath, name), 'rb') as f:
        found[os.path.relpath(os.path.join(dirpath, name), root)] = f.read()
  return found


def _push(model_uri, serving, pushed_uri):
  model = standard_artifacts.Model()
  model.uri = model_uri
  blessing = standard_artifacts.ModelBlessing()
  blessing.uri = os.path.join(os.path.dirname(pushed_uri), 'blessing')
  blessing.set_int_custom_property('blessed', 1)
  pushed = standard_artifacts.PushedModel()
  pushed.uri = pushed_uri
  destination = json.dumps({'filesystem': {'base_directory': serving}})
  mnist_pusher.Executor().Do(
    {'model': [model], 'model_blessing': [blessing]},
    {'pushed_model': [pushed]},
    {'push_destination': destination},
  )
  return pushed


class _Fault(Exception):
  pass


# Every operation the Pusher (components/mnist_pusher.py) and the TFX helpers it calls
# (io_utils.copy_dir, io_utils.write_string_file) use to change or open a file: TFX's fileio for
# the copy, the record and the clean-up; Python's own calls for the flush, the rename and
# models.config. test_every_file_operation_of_the_pusher_is_injected keeps this list whole.
FILEIO_OPERATIONS = ('copy', 'makedirs', 'mkdir', 'open', 'remove', 'rmtree', 'rename')
OS_OPERATIONS = ('open', 'fsync', 'rename', 'replace', 'makedirs', 'remove')
BUILTIN_OPERATIONS = ('open',)


def _inject(at: int, kind: str):
  """From now on in this (child) process, the at-th file operation of the push fails: the
  process dies before it ('kill'), dies halfway through a copy ('kill-mid-copy', else like
  'kill'), or the operation raises ENOSPC ('disk-full')."""
  count = [0]

  def wrap(module, name):
    original = getattr(module, name)

    def faulty(*args, **kwargs):
      count[0] += 1
      if count[0] == at:
        if kind == 'disk-full':
          raise OSError(errno.ENOSPC, 'No space left on device (injected)')
        if kind == 'kill-mid-copy' and name == 'copy':
          with open(args[0], 'rb') as source, open(args[1], 'wb') as target:
            data = source.read()
            target.write(data[: len(data) // 2])
        os._exit(KILLED)
      return original(*args, **kwargs)

    setattr(module, name, faulty)

  for name in FILEIO_OPERATIONS:
    wrap(fileio, name)
  for name in OS_OPERATIONS:
    wrap(os, name)
  for name in BUILTIN_OPERATIONS:
    wrap(builtins, name)
  return count


def test_every_file_operation_of_the_pusher_is_injected():
  """Read from the Pusher's own source: each call it makes to fileio, os or open is one the
  fault injection above wraps (os.path, os.walk, os.kill and the like only read or ask)."""
  tree = ast.parse(inspect.getsource(mnist_pusher))
  calls = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
      owner = node.func.value
      if isinstance(owner, ast.Name) and owner.id in ('fileio', 'os'):
        calls.add((owner.id, node.func.attr))
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == 'open':
      calls.add(('builtins', 'open'))
  reads = {
    ('fileio', 'exists'),
    ('fileio', 'isdir'),
    ('fileio', 'listdir'),
    ('fileio', 'walk'),
    ('os', 'walk'),
    ('os', 'kill'),
    ('os', 'getpid'),
    ('os', 'close'),
  }
  wrapped = {
    *(('fileio', n) for n in FILEIO_OPERATIONS),
    *(('os', n) for n in OS_OPERATIONS),
    *(('builtins', n) for n in BUILTIN_OPERATIONS),
  }
  assert calls - reads <= wrapped, sorted(calls - reads - wrapped)
  assert {('builtins', 'open'), ('os', 'replace'), ('os', 'open'), ('fileio', 'remove')} <= calls


def _push_in_child(model_uri, serving, pushed_uri, at=None, kind='kill'):
  """Runs one push in a forked child (optionally with a fault); returns (exit status,
  operations)."""
  read, write = os.pipe()
  pid = os.fork()
  if pid == 0:  # the child: no pytest machinery from here on
    os.close(read)
    status = 0
    try:
      count = _inject(at or -1, kind)  # without a fault: only counted
      _push(model_uri, serving, pushed_uri)
      os.write(write, str(count[0]).encode())
    except OSError as e:
      status = 3 if e.errno == errno.ENOSPC else 1
    except BaseException:  # noqa: BLE001
      status = 1
    os._exit(status)
  os.close(write)
  _, status = os.waitpid(pid, 0)
  with os.fdopen(read) as f:
    ops = f.read()
  return os.waitstatus_to_exitcode(status), int(ops) if ops else None


def _check_only_complete_versions(serving, saved_model):
  """Every numbered version is the whole model plus its provenance record."""
  expected = _files(os.path.join(saved_model, 'Format-Serving'))
  for version in serving_dir.versions(serving):
    got = _files(os.path.join(serving, str(version)))
    provenance = got.pop(serving_dir.PROVENANCE_FILE)
    assert got == expected, f'version {version} is not the whole model'
    assert json.loads(provenance)['model_uri'] == saved_model


@pytest.mark.slow
@pytest.mark.parametrize('kind', ['kill', 'kill-mid-copy', 'disk-full'])
def test_a_fault_at_any_file_operation_leaves_no_incomplete_version(tmp_path, saved_model, kind):
  serving = str(tmp_path / 'serving')
  status, operations = _push_in_child(saved_model, serving, str(tmp_path / 'pushed' / 'clean'))
  assert status == 0 and operations > 10, operations  # a clean push, counted
  assert len(serving_dir.versions(serving)) == 1
  fileio.rmtree(serving)
  outcomes = set()
  for at in range(1, operations + 1):
    status, _ = _push_in_child(saved_model, serving, str(tmp_path / 'pushed' / str(at)), at, kind)
    outcomes.add(status)
    assert status in (KILLED, 3, 1), (at, status)
    _check_only_complete_versions(serving, saved_model)
    after_fault = serving_dir.versions(serving)
    assert len(after_fault) <= 1
    if kind == 'disk-full' and os.path.isdir(serving):  # the failing push removed its staging dir
      assert not [n for n in os.listdir(serving) if n.startswith('.pushing-')], (
        at,
        os.listdir(serving),
      )
    # The next push (another process, as the next run) cleans up and leaves one whole version.
    status, _ = _push_in_child(saved_model, serving, str(tmp_path / 'pushed' / f'{at}-next'))
    assert status == 0
    assert sorted(os.listdir(serving)) == sorted(
      [str(v) for v in serving_dir.versions(serving)] + [mnist_pusher.MODELS_CONFIG_FILE]
    ), f'leftovers after a fault at operation {at}: {os.listdir(serving)}'
    _check_only_complete_versions(serving, saved_model)
    assert len(serving_dir.versions(serving)) == 1  # the same model is never pushed twice
    fileio.rmtree(serving)
  assert outcomes == ({3} if kind == 'disk-full' else {KILLED}), outcomes


def test_the_pushed_version_loads(tmp_path, saved_model):
  serving = str(tmp_path / 'serving')
  pushed = _push(saved_model, serving, str(tmp_path / 'pushed'))
  loaded = tf.saved_model.load(pushed.get_string_custom_property('pushed_destination'))
  assert loaded(tf.ones([1, 256])).shape == (1, 256)


def test_a_real_full_disk(tmp_path, saved_model):
  """The serving dir on a tmpfs too small for the model: the push fails, nothing is left."""
  serving = tmp_path / 'small'
  serving.mkdir()
  size = sum(len(b) for b in _files(os.path.join(saved_model, 'Format-Serving')).values())
  mount = subprocess.run(
    ['mount', '-t', 'tmpfs', '-o', f'size={size // 2}', 'tmpfs', str(serving)],
    capture_output=True,
    text=True,
  )
  if mount.returncode != 0:
    pytest.skip(
      f'cannot mount a small tmpfs here ({mount.stderr.strip()}); the simulated '
      'disk-full case above still runs'
    )
  try:
    with pytest.raises((OSError, tf.errors.OpError)) as info:  # Python's write, or TF's copy
      _push(saved_model, str(serving), str(tmp_path / 'pushed'))
    assert (
      'No space left' in str(info.value)
      or 'RESOURCE_EXHAUSTED' in str(info.value)
      or getattr(info.value, 'errno', None) == errno.ENOSPC
    ), repr(info.value)
    assert os.listdir(serving) == []  # no version, no staging dir
  finally:
    subprocess.run(['umount', str(serving)], check=True)


def test_leftovers_of_live_pushes_are_left_alone(tmp_path):
  serving = tmp_path / 'serving'
  serving.mkdir()
  prefix = mnist_pusher.STAGING_PREFIX
  live = serving / serving_dir.owned_name(prefix, 123, pid=1)  # pid 1 is alive: still pushing
  live.mkdir()
  own = serving / mnist_pusher.staging_name(123)  # this process starts a push: an earlier one's
  own.mkdir()
  dead = serving / serving_dir.owned_name(prefix, 123, pid=2**22 + 7)  # no such pid
  dead.mkdir()
  other_host_recent = serving / serving_dir.owned_name(prefix, int(time.time()), 1, 'other-host')
  other_host_recent.mkdir()
  other_host_old = serving / serving_dir.owned_name(prefix, 1000, 1, 'other-host')
  other_host_old.mkdir()
  removed = mnist_pusher.remove_abandoned_staging(str(serving))
  assert sorted(removed) == sorted([dead.name, other_host_old.name, own.name])
  assert sorted(os.listdir(serving)) == sorted([live.name, other_host_recent.name])


def test_names_a_push_did_not_make_are_left_alone_and_listed(tmp_path):
  """What a person put there, even named like a leftover, is never deleted by a push."""
  serving = tmp_path / 'serving'
  (serving / '.pushing-backup').mkdir(parents=True)
  (serving / '.pushing-backup' / 'notes.txt').write_text('mine')
  (serving / 'models.config.tmp-mine').write_text('mine')
  forged = serving_dir.owned_name(mnist_pusher.STAGING_PREFIX, 123, pid=2**22 + 7)
  (serving / (forged[:-1] + ('1' if forged.endswith('0') else '0'))).mkdir()  # a wrong mark
  (serving / f'.pushing-123-{2**22 + 7}-{os.uname().nodename}').mkdir()  # the old form: no mark
  before = sorted(os.listdir(serving))
  assert mnist_pusher.remove_abandoned_staging(str(serving)) == []
  assert mnist_pusher.remove_abandoned_staging(str(serving), mnist_pusher.CONFIG_TEMP_PREFIX) == []
  assert sorted(os.listdir(serving)) == before
  assert mnist_pusher.foreign_leftovers(str(serving)) == before
  assert (serving / '.pushing-backup' / 'notes.txt').read_text() == 'mine'
