"""components/lib/pictures.py: the one rule that turns any picture into the CNN's 28×28 gray
input (the image ExampleGen's and `predict`'s), and reading a picture in bounded memory: the pixel
count is read from the header and refused above 40 megapixels before anything is decoded; at the
bound, every accepted format in its largest mode stays within MAX_PICTURE_BYTES (peak memory of a
child process: its VmHWM); any bytes give a picture or one PictureError line (hypothesis)."""

import io
import os
import struct
import subprocess
import sys
import zlib
from typing import Any, Dict

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from components.lib import pictures
from tests.conftest import REPO


def _read(data: bytes):
  return pictures.read_picture(io.BytesIO(data))


def _encoded(image: Image.Image, fmt: str, **options) -> bytes:
  buffer = io.BytesIO()
  image.save(buffer, format=fmt, **options)
  return buffer.getvalue()


def test_the_rule_stretches_the_whole_picture_to_28x28_gray():
  """A 60×30 picture, left half black, right half white: 28×28, the halves kept where they were
  (the whole picture is stretched, nothing cropped or padded), polarity as it is."""
  rgb = np.zeros((30, 60, 3), np.uint8)
  rgb[:, 30:] = 255
  image = pictures.read_input(io.BytesIO(_encoded(Image.fromarray(rgb), 'PNG')))
  assert image.shape == (28, 28) and image.dtype == np.uint8
  assert image[:, :13].max() == 0 and image[:, 15:].min() == 255
  inverted = pictures.read_input(io.BytesIO(_encoded(Image.fromarray(255 - rgb), 'PNG')))
  assert inverted[:, :13].min() == 255  # not turned light-on-dark: that is the digits' rule


def test_colour_is_read_as_luma_and_a_28x28_gray_picture_is_kept_as_it_is():
  gray = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
  assert np.array_equal(
    pictures.read_input(io.BytesIO(_encoded(Image.fromarray(gray), 'PNG'))), gray
  )
  red = np.zeros((28, 28, 3), np.uint8)
  red[..., 0] = 200
  luma = pictures.read_input(io.BytesIO(_encoded(Image.fromarray(red), 'PNG')))
  assert np.all(luma == round(200 * 299 / 1000))  # ITU-R 601: L = R*299/1000 + G*587/1000 + …


@pytest.mark.parametrize('mode', ['1', 'L', 'LA', 'P', 'RGB', 'RGBA', 'I;16', 'CMYK'])
def test_every_mode_gives_28x28_uint8(mode):
  fmt = 'JPEG' if mode == 'CMYK' else 'TIFF' if mode == 'I;16' else 'PNG'
  image = Image.new(mode, (50, 40))
  assert pictures.read_input(io.BytesIO(_encoded(image, fmt))).shape == (28, 28)


def test_a_picture_is_reduced_a_strip_at_a_time_as_pillow_reduces_it_whole():
  rng = np.random.default_rng(1)
  rgba = Image.fromarray(rng.integers(0, 256, (1001, 703, 4), dtype=np.uint8), mode='RGBA')
  for factor in (2, 3, 7):
    assert np.array_equal(
      np.asarray(pictures._reduce(rgba, factor)), np.asarray(rgba.reduce(factor))
    ), factor


def test_a_large_picture_is_reduced_before_it_is_converted_and_turned_upright():
  """3000×2000 (6 megapixels, over WORK_PIXELS), EXIF orientation 6 (taken sideways): read as
  1500×1000 turned upright, 1000 wide."""
  image = Image.new('RGB', (3000, 2000), (10, 20, 30))
  exif = Image.Exif()
  exif[0x0112] = 6
  read = _read(_encoded(image, 'PNG', exif=exif))
  assert read.size == (1000, 1500) and read.size[0] * read.size[1] <= pictures.WORK_PIXELS


def test_formats_outside_the_list_and_animations_are_refused():
  with pytest.raises(pictures.PictureError, match=r'not a picture format of PNG, JPEG, GIF'):
    _read(_encoded(Image.new('RGB', (30, 30)), 'WEBP'))
  with pytest.raises(pictures.PictureError, match=r'not a picture format'):
    _read(_encoded(Image.new('RGB', (30, 30)), 'PPM'))
  frames = [Image.new('L', (30, 30), v) for v in (0, 255)]
  with pytest.raises(pictures.PictureError, match='has 2 frames'):
    _read(_encoded(frames[0], 'GIF', save_all=True, append_images=frames[1:]))


def test_a_truncated_picture_is_one_line():
  data = _encoded(
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (60, 60), np.uint8)), 'PNG'
  )
  with pytest.raises(pictures.PictureError) as error:
    _read(data[: len(data) // 2])
  assert str(error.value).startswith('cannot read the image (') and '\n' not in str(error.value)


# --- bounded memory: measured in a child process -------------------------------------------------


def write_png(
  path: str, width: int, height: int, color_type: int = 6, bit_depth: int = 8, rows=None
) -> int:
  """A PNG of zeros written row by row through zlib (never held decoded): a 13300×13300 RGBA
  picture is 0.7 MB on disk and 708 MB decoded. With `rows`, only that many rows of data follow
  the header (a picture cut short). Returns its size."""

  def chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', crc)

  channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
  row = bytes(1 + width * channels * bit_depth // 8)
  compressor = zlib.compressobj(9)
  with open(path, 'wb') as f:
    f.write(b'\x89PNG\r\n\x1a\n')
    header = struct.pack('>IIBBBBB', width, height, bit_depth, color_type, 0, 0, 0)
    f.write(chunk(b'IHDR', header))
    count = height if rows is None else rows
    data = b''.join(compressor.compress(row) for _ in range(count)) + compressor.flush()
    f.write(chunk(b'IDAT', data))
    f.write(chunk(b'IEND', b''))
  return os.path.getsize(path)


# The child's own peak: VmHWM, the high-water mark of its memory since its exec (getrusage's
# ru_maxrss would keep the RSS of the pytest process forked to start it).
CHILD = r"""
import sys
def peak():
  with open('/proc/self/status') as status:
    return next(int(line.split()[1]) * 1024 for line in status if line.startswith('VmHWM:'))
from components.lib import pictures
before = peak()
try:
  with open(sys.argv[1], 'rb') as f:
    outcome = 'read %s' % (pictures.read_input(f).shape,)
except pictures.PictureError as e:
  outcome = str(e)
print(outcome)
print(peak() - before)
"""


def read_in_child(path: str):
  """(what reading the picture gave, the bytes it cost the child above its imports)."""
  env = dict(os.environ, OPENBLAS_NUM_THREADS='1', OMP_NUM_THREADS='1')
  done = subprocess.run(
    [sys.executable, '-c', CHILD, path],
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=300,
    env=env,
  )
  assert done.returncode == 0, done.stderr
  outcome, cost = done.stdout.strip().splitlines()
  return outcome, int(cost)


def test_a_small_png_that_decodes_to_a_huge_image_is_refused_before_it_is_decoded(tmp_path):
  """13300×13300 RGBA: 0.7 MB on disk, 708 MB decoded (predict took 5.8 GB and answered)."""
  path = str(tmp_path / 'bomb.png')
  assert write_png(path, 13300, 13300) < 2**20
  outcome, cost = read_in_child(path)
  assert outcome == (
    'its header declares 13300x13300 pixels (176.9 megapixels), more than the 40.0 megapixels a '
    'picture may have; scale it down first'
  )
  assert cost < 16 * 2**20, f'{cost / 2**20:.0f} MiB'


def test_a_header_over_pillows_own_guard_is_refused_in_one_line(tmp_path):
  path = str(tmp_path / 'huge.png')
  write_png(path, 20000, 20000, color_type=0)
  outcome, cost = read_in_child(path)
  assert outcome.startswith('its header declares 400.0 megapixels, more than the 40.0'), outcome
  assert cost < 16 * 2**20


def _at_bound(tmp_path, fmt: str, mode: str) -> str:
  """A 6300×6300 picture (39.7 megapixels, just under the bound) in `fmt` and `mode`."""
  path = str(tmp_path / f'bound.{fmt.lower()}')
  if fmt == 'PNG' and mode in ('RGBA', 'I;16'):
    write_png(path, 6300, 6300, *((6, 8) if mode == 'RGBA' else (0, 16)))
    return path
  every: Dict[str, Dict[str, Any]] = {
    'JPEG': {'progressive': True},  # a progressive decoder keeps every coefficient
    'TIFF': {'compression': 'tiff_deflate'},
    'GIF': {'transparency': 3},
  }
  options = every.get(fmt, {})
  fill = 3 if mode == 'P' else tuple(range(1, len(mode) + 1))
  Image.new(mode, (6300, 6300), fill).save(path, format=fmt, **options)
  return path


def test_a_png_at_the_bound_is_read_within_the_stated_memory(tmp_path):
  outcome, cost = read_in_child(_at_bound(tmp_path, 'PNG', 'RGBA'))
  assert outcome == 'read (28, 28)'
  assert cost <= pictures.MAX_PICTURE_BYTES, f'{cost / 2**20:.0f} MiB'


@pytest.mark.slow
@pytest.mark.parametrize(
  'fmt, mode',
  [
    ('PNG', 'I;16'),
    ('JPEG', 'RGB'),
    ('JPEG', 'CMYK'),
    ('GIF', 'P'),
    ('BMP', 'RGBA'),
    ('TIFF', 'CMYK'),
  ],
)
def test_every_format_at_the_bound_is_read_within_the_stated_memory(tmp_path, fmt, mode):
  outcome, cost = read_in_child(_at_bound(tmp_path, fmt, mode))
  assert outcome == 'read (28, 28)'
  assert cost <= pictures.MAX_PICTURE_BYTES, f'{fmt} {mode}: {cost / 2**20:.0f} MiB'


# --- property-based: any bytes give a picture or one PictureError line ---


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
  data=st.binary(max_size=400),
  fmt=st.sampled_from(list(pictures.FORMATS)),
  cut=st.integers(0, 3000),
)
def test_any_bytes_give_a_picture_or_one_line(data, fmt, cut):
  picture = Image.fromarray(np.random.default_rng(cut).integers(0, 256, (40, 30, 3), np.uint8))
  for candidate in (data, _encoded(picture, fmt)[:cut]):
    try:
      image = pictures.read_input(io.BytesIO(candidate))
    except pictures.PictureError as e:
      assert str(e) and '\n' not in str(e)
    else:
      assert image.shape == (28, 28) and image.dtype == np.uint8
