"""Bad data files cost bounded memory and never block: gzip bombs are refused as they inflate
(peak memory of a child process: its VmHWM), only regular files are opened, and
any bytes at all give an array or one MnistDataError line (hypothesis)."""

import gzip
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.lib import datasets, idx
from components.lib.idx import MnistDataError
from tests.conftest import REPO, idx_images, idx_labels

TRAIN_IMAGES = 'train-images-idx3-ubyte.gz'
ZEROS_MEMBER = gzip.compress(bytes(2**20), compresslevel=9)  # 1 MiB of zeros in about 1 KiB
ADDRESS_SPACE = 1536 * 2**20  # the bound: no bad input may take more

# The child's own peak: VmHWM, the high-water mark of its address space since its exec.
# getrusage's ru_maxrss would not do: on Linux it keeps the RSS of the pytest process that was
# forked to start the child (hundreds of MB once TensorFlow is loaded there).
PEAK_RSS = r"""
def peak_rss():
  with open('/proc/self/status') as status:
    return next(int(line.split()[1]) * 1024 for line in status if line.startswith('VmHWM:'))
"""
CHILD = (
  PEAK_RSS
  + r"""
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[3]), int(sys.argv[3])))
from components.lib import datasets, idx
try:
  idx.load_split(sys.argv[1], 'train', dataset=datasets.get(sys.argv[2]))
  outcome = 'accepted'
except idx.MnistDataError as e:
  outcome = str(e)
except MemoryError:
  outcome = 'MemoryError'
print(outcome)
print(peak_rss())
"""
)


def _bomb(folder, header: bytes, mebibytes: int) -> int:
  """The images file: the header, then `mebibytes` MiB of zeros as concatenated gzip members (a
  valid gzip that inflates about 1000-fold). Returns its compressed size."""
  path = os.path.join(folder, TRAIN_IMAGES)
  with open(path, 'wb') as f:
    f.write(gzip.compress(header))
    for _ in range(mebibytes):
      f.write(ZEROS_MEMBER)
  return os.path.getsize(path)


def _load_in_child(folder, dataset):
  env = dict(os.environ, OPENBLAS_NUM_THREADS='1', OMP_NUM_THREADS='1')
  done = subprocess.run(
    [sys.executable, '-c', CHILD, folder, dataset, str(ADDRESS_SPACE)],
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=120,
    env=env,
  )
  assert done.returncode == 0, done.stderr
  outcome, peak = done.stdout.strip().splitlines()
  return outcome, int(peak)


@pytest.mark.parametrize(
  'dataset, count, mebibytes, refusal',
  [
    # The pinned count, then 2 GiB of zeros: reading stops one byte past the declared size.
    ('mnist', 60000, 2048, 'size more than 47040016 bytes does not match its header'),
    # No pin: a header declaring 2.6 M images is refused before anything past it is read.
    ('idx', 2_600_000, 2048, 'its header declares 2600000 items'),
  ],
)
def test_gzip_bomb_is_refused_in_bounded_memory(tmp_path, dataset, count, mebibytes, refusal):
  compressed = _bomb(str(tmp_path), idx_images(np.zeros((0, 28, 28)), count=count), mebibytes)
  assert compressed < 3 * 2**20  # 3 MB on disk, 2 GiB inflated
  outcome, peak = _load_in_child(str(tmp_path), dataset)
  assert outcome.startswith(f'{TRAIN_IMAGES}: ') and refusal in outcome, outcome
  assert peak < 400 * 2**20, f'peak RSS {peak / 2**20:.0f} MiB'


def test_unpinned_size_bound_admits_large_real_sets():
  spec = datasets.IDX.files['train'][0]
  assert idx.size_bound(spec) == idx.MAX_IDX_BYTES >= 16 + 814_255 * 784  # EMNIST byclass
  pinned = datasets.MNIST.files['train'][0]
  assert idx.size_bound(pinned) == 16 + 60000 * 784


def test_decompress_stops_past_its_limit():
  raw = gzip.compress(b'x' * 100) + ZEROS_MEMBER * 4
  with pytest.raises(MnistDataError, match='x.gz: inflates to more than 1000 bytes'):
    idx.decompress('x.gz', raw, limit=1000)
  assert idx.decompress('x.gz', gzip.compress(b'abc'), limit=3) == b'abc'


def refused_without_blocking(fifo, call, error=MnistDataError):
  """str() of the `error` that call() raises, failing (not hanging) if it blocks on `fifo`."""
  import threading

  outcome = []

  def attempt():
    try:
      call()
      outcome.append('accepted')
    except error as e:
      outcome.append(str(e))

  worker = threading.Thread(target=attempt, daemon=True)
  worker.start()
  worker.join(timeout=10)
  if worker.is_alive():
    with open(fifo, 'wb'):  # lets the blocked reader go
      pass
    pytest.fail(f'blocked reading the FIFO {fifo}')
  return outcome[0]


def _socket(path):
  with socket.socket(socket.AF_UNIX) as listener:
    listener.bind(path)  # the socket's file stays after it is closed


@pytest.mark.parametrize(
  'make, kind', [(os.mkfifo, 'a FIFO'), (os.mkdir, 'a directory'), (_socket, 'a socket')]
)
def test_only_regular_data_files_are_opened(mnist_copy, make, kind):
  """A FIFO named like a data file would block the reader forever; it is refused at once."""
  path = os.path.join(mnist_copy, TRAIN_IMAGES)
  os.remove(path)
  make(path)
  assert (
    refused_without_blocking(path, lambda: idx.load_split(mnist_copy, 'train'))
    == f'{TRAIN_IMAGES}: cannot be read (is {kind}, not a regular file)'
  )


def test_device_as_data_file_is_refused(tmp_path):
  os.symlink('/dev/zero', tmp_path / TRAIN_IMAGES)
  with pytest.raises(MnistDataError, match='is a character device, not a regular file'):
    idx.load_split(str(tmp_path), 'train')


# --- property-based: any bytes give an array or one MnistDataError line ---------------------------

IMAGE_SPEC = datasets.IdxFile('x.gz', datasets.IMAGE_MAGIC, None, None)
LABEL_SPEC = datasets.IdxFile('y.gz', datasets.LABEL_MAGIC, None, None)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _headers():
  """IDX headers near the valid ones: right or wrong magic, counts from 0 to 2**32-1, sizes."""
  word = st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([0, 1, 2, 28, 2049, 2051]))
  return st.tuples(word, word, word, word).map(lambda w: b''.join(v.to_bytes(4, 'big') for v in w))


@FAST
@given(
  header=_headers(), body=st.binary(max_size=3000), spec=st.sampled_from([IMAGE_SPEC, LABEL_SPEC])
)
def test_any_idx_stream_parses_or_is_one_line(header, body, spec):
  import io

  data = header + body
  for source in (data, data[:8]):
    try:
      array, _ = idx.read_idx(
        spec.name, gzip.GzipFile(fileobj=io.BytesIO(gzip.compress(source))), spec, bound=2**16
      )
    except MnistDataError as e:
      assert '\n' not in str(e) and str(e).startswith(spec.name + ': ')
    else:
      assert array.dtype == np.uint8 and array.shape[0] == int.from_bytes(source[4:8], 'big')


@FAST
@given(count=st.integers(0, 40), images=st.integers(0, 40))
def test_valid_images_round_trip_and_wrong_counts_are_refused(count, images):
  data = idx_images(np.full((images, 28, 28), 7), count=count)
  if count == images:
    assert idx.parse_idx('x.gz', data, IMAGE_SPEC).shape == (count, 28, 28)
  else:
    with pytest.raises(MnistDataError, match='does not match its header'):
      idx.parse_idx('x.gz', data, IMAGE_SPEC)
  labels = idx_labels(np.arange(images) % 10, count=count)
  if count == images:
    assert list(idx.parse_idx('y.gz', labels, LABEL_SPEC)) == list(np.arange(images) % 10)


@FAST
@given(raw=st.binary(max_size=200))
def test_any_compressed_bytes_decompress_or_are_one_line(raw):
  for candidate in (raw, gzip.compress(raw)[: len(raw) // 2 + 10], gzip.compress(raw)):
    try:
      data = idx.decompress('x.gz', candidate, limit=1000)
    except MnistDataError as e:
      assert '\n' not in str(e) and str(e).startswith('x.gz: ')
    else:  # what it gives is what the gzip holds, whole
      assert data == gzip.decompress(candidate) and len(data) <= 1000
  assert idx.decompress('x.gz', gzip.compress(raw)) == raw


def test_only_a_regular_schema_file_is_read(tmp_path):
  """The ImportSchemaGen executor and load_schema refuse a FIFO at once (TFX would block on it)."""
  from tfx.types import standard_component_specs

  from components import data_validation

  fifo = str(tmp_path / 'schema.pbtxt')
  os.mkfifo(fifo)
  assert (
    refused_without_blocking(fifo, lambda: data_validation.load_schema(fifo), Exception)
    == f'schema {fifo}: is a FIFO, not a regular file'
  )
  with pytest.raises(data_validation.DataValidationError, match='is a FIFO, not a regular file'):
    data_validation.ImportSchemaExecutor().Do(
      {}, {}, {standard_component_specs.SCHEMA_FILE_KEY: fifo}
    )
  with pytest.raises(data_validation.DataValidationError, match='No such file'):
    data_validation.load_schema(str(tmp_path / 'missing.pbtxt'))
  assert data_validation.load_schema().feature  # the repo's own schema still reads
