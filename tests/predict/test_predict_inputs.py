"""predict's inputs: only regular files are opened (a FIFO would block it forever), a large .npy
is read in batches (peak memory of a child process: its VmHWM), multi-frame
pictures are refused, and any bytes give images or one InputError line (hypothesis)."""

import io
import os
import socket
import subprocess
import sys
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from predict import pictures
from tests.conftest import REPO


def _stroke(size=56):
  picture = np.zeros((size, size), np.uint8)
  picture[size // 4 : 3 * size // 4, size // 2 - 3 : size // 2 + 3] = 255
  return picture


@pytest.mark.parametrize('name', ['digit.png', 'digits.npy', 'no-extension'])
def test_a_fifo_is_refused_at_once(tmp_path, name):
  fifo = str(tmp_path / name)
  os.mkfifo(fifo)
  outcome = []
  worker = threading.Thread(target=lambda: outcome.append(_load_error(fifo)), daemon=True)
  worker.start()
  worker.join(timeout=10)
  if worker.is_alive():  # unblock the reader that today's code leaves hanging, then fail
    with open(fifo, 'wb'):
      pass
    pytest.fail(f'reading {name} blocked on the FIFO')
  assert outcome == ['is a FIFO, not a regular file']


def _load_error(path):
  try:
    pictures.load(path)
  except pictures.InputError as e:
    return str(e)
  return 'accepted'


def test_a_device_is_refused(tmp_path):
  os.symlink('/dev/zero', tmp_path / 'zeros.npy')
  assert _load_error(str(tmp_path / 'zeros.npy')) == 'is a character device, not a regular file'


@pytest.mark.parametrize('name', ['digit.png', 'digits.npy'])
def test_a_socket_is_refused(tmp_path, name):
  with socket.socket(socket.AF_UNIX) as listener:
    listener.bind(str(tmp_path / name))  # the socket's file stays after it is closed
  assert _load_error(str(tmp_path / name)) == 'is a socket, not a regular file'


@pytest.mark.parametrize('fmt, frames', [('GIF', 3), ('TIFF', 2), ('PNG', 2)])
def test_multi_frame_pictures_are_refused(tmp_path, fmt, frames):
  path = str(tmp_path / f'animated.{fmt.lower()}')
  images = [Image.fromarray(np.roll(_stroke(), 5 * i, axis=1)) for i in range(frames)]
  images[0].save(path, format=fmt, save_all=True, append_images=images[1:])
  assert _load_error(path).startswith(f'has {frames} frames (an animation or multi-page file)')
  images[0].save(path, format=fmt)  # one frame: answered
  assert pictures.load(path)[0].shape == (1, 28, 28)


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
from predict import pictures
batches, batch = pictures.load_batches(sys.argv[1], 256)
count, total = 0, 0.0
for images in batches:
  count += len(images)
  total += float(images[:, 14, 14].sum())
print(count, batch, total)
print(peak_rss())
"""
)


def test_large_npy_is_read_in_batches_in_bounded_memory(tmp_path):
  """200,000 uint8 images (157 MB on disk, 627 MB as float32 at once): the child's peak RSS
  stays far below either."""
  path = str(tmp_path / 'many.npy')
  n = 200_000
  stored = np.lib.format.open_memmap(path, mode='w+', dtype=np.uint8, shape=(n, 28, 28))
  stored[:, 14, 14] = 255
  stored.flush()
  del stored
  env = dict(os.environ, OPENBLAS_NUM_THREADS='1')
  done = subprocess.run(
    [sys.executable, '-c', CHILD, path],
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=300,
    env=env,
  )
  assert done.returncode == 0, done.stderr
  answer, peak = done.stdout.strip().splitlines()
  assert answer.split() == [str(n), 'True', f'{float(n)}']
  # The map's pages count in RSS as they are read; the kernel may keep them, so the bound is on
  # what was allocated beyond the file: well under one float32 copy of it.
  assert int(peak) < 157e6 + 150e6, f'peak RSS {int(peak) / 1e6:.0f} MB'


# --- property-based: any bytes give images or one InputError line ---------------------------------

FAST = settings(
  max_examples=100,
  deadline=None,
  suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _npy_bytes():
  """Valid .npy files of random shapes and dtypes, and their truncations and corruptions."""
  dtypes = st.sampled_from(['u1', 'i2', '<f4', '>f8', '?', 'c8', 'U1', 'V4'])
  shapes = st.lists(st.integers(0, 30), min_size=0, max_size=4)

  def build(args):
    dtype, shape, cut, flip = args
    buffer = io.BytesIO()
    np.save(buffer, np.zeros([min(s, 30) for s in shape], dtype=dtype))
    data = buffer.getvalue()
    if flip is not None and data:
      data = bytearray(data)
      data[flip % len(data)] ^= 0xFF
      data = bytes(data)
    return data[:cut] if cut is not None else data

  return st.tuples(
    dtypes,
    shapes,
    st.one_of(st.none(), st.integers(0, 200)),
    st.one_of(st.none(), st.integers(0, 200)),
  ).map(build)


@FAST
@given(data=st.one_of(_npy_bytes(), st.binary(max_size=300).map(lambda b: pictures.NPY_MAGIC + b)))
def test_any_npy_bytes_give_images_or_one_line(tmp_path, data):
  path = tmp_path / 'x.npy'
  path.write_bytes(data)
  try:
    images, batch = pictures.load(str(path))
  except pictures.InputError as e:
    assert '\n' not in str(e) and str(e)
  else:
    assert images.dtype == np.float32 and images.ndim == 3 and images.shape[1:] == (28, 28)
    assert batch in (True, False) and (batch or images.shape[0] == 1)


@FAST
@given(
  data=st.binary(max_size=400),
  fmt=st.sampled_from(['PNG', 'GIF', 'BMP', 'TIFF', 'JPEG']),
  cut=st.integers(0, 2000),
)
def test_any_picture_bytes_give_an_image_or_one_line(tmp_path, data, fmt, cut):
  """Random bytes, and real pictures cut short: a 28x28 image or one InputError line."""
  buffer = io.BytesIO()
  Image.fromarray(_stroke(40)).save(buffer, format=fmt)
  for candidate in (data, buffer.getvalue()[:cut]):
    path = tmp_path / 'x.img'
    path.write_bytes(candidate)
    try:
      images, _ = pictures.load(str(path))
    except pictures.InputError as e:
      assert '\n' not in str(e) and str(e)
    else:
      assert images.shape == (1, 28, 28) and 0.0 <= images.min() <= images.max() <= 1.0
