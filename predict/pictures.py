"""Any picture → a 28×28 image for the model; .npy arrays → a batch (pure: numpy, Pillow and
scipy.ndimage, no TensorFlow).

What `mnist-tfx predict` feeds the `classify` signature. A picture (PNG, JPEG, GIF, BMP or
TIFF; any size up to 40 megapixels; gray, RGB, RGBA, palette) is read as components/lib/
pictures.py reads every picture, then prepared as the model's training data was (PICTURE_RULES):

- `digit`, for models trained on MNIST-style IDX data (mnist, fashion-mnist, idx), whose images
  were made by centring: the picture is prepared as MNIST's digits were (LeCun et al.): the
  digit's bounding box is scaled to fit 20×20 keeping its aspect ratio, and placed in a 28×28
  field with its centre of mass at the centre. Before that, the background is found from the
  picture's border, so a dark digit on white paper comes out light on dark, as MNIST's do,
  whatever the model's own polarity rule would make of it.
- `whole`, for models trained on a folder of pictures or a CSV (images, csv): the same function
  the image ExampleGen turned each training picture with (components/lib/pictures.to_input):
  the whole picture, gray, stretched to 28×28, polarity kept.

An .npy array is taken as already prepared: [28, 28] or [N, 28, 28], in [0, 1] (uint8 0-255 is
scaled).

Every problem is an `InputError` whose message is one line, without the file name.
"""

from typing import Iterator, Tuple

import numpy as np
from PIL import Image
from scipy import ndimage

from components.lib.local_files import NotRegularFileError, open_regular
from components.lib.pictures import PictureError, read_picture, to_gray, to_input
from trainer_module.features import IMAGE_SIZE

FIT = 20  # MNIST: each digit's bounding box scaled to fit 20×20 ...
# ... then centred by centre of mass in IMAGE_SIZE × IMAGE_SIZE.
NOISE_FLOOR = 0.15  # ink below this share of the picture's contrast is background (paper grain)
MIN_CONTRAST = 16.0  # gray levels (of 255) between background and ink; less is a blank picture
SPECK_SHARE = 0.05  # a patch of ink with less than this share of the largest patch's is a speck
NPY_MAGIC = b'\x93NUMPY'


class InputError(ValueError):
  """An input that cannot be read or prepared; the message is one line."""


def _one_line(error: BaseException) -> str:
  text = ' '.join(str(error).split())
  return f'{type(error).__name__}: {text}' if text else type(error).__name__


# --- reading ------------------------------------------------------------------------------------

DIGIT, WHOLE = 'digit', 'whole'  # the picture rules (the module's docstring)
PICTURE_RULES = (DIGIT, WHOLE)
BATCH = 256  # .npy images converted and answered at a time: memory is bounded whatever N is


def _open(path: str):
  """The path opened for reading if it is a regular file (components/lib/local_files.py: a FIFO
  would block, a device never end); InputError otherwise."""
  try:
    return open_regular(path)
  except FileNotFoundError:
    raise InputError('no such file') from None
  except NotRegularFileError as e:
    raise InputError(
      str(e) if 'directory' not in str(e) else 'is a directory, not an image'
    ) from None
  except OSError as e:
    raise InputError(f'cannot open it ({e.strerror or _one_line(e)})') from None


def is_npy(path: str) -> bool:
  if path.lower().endswith('.npy'):
    return True
  try:
    with _open(path) as f:
      return f.read(len(NPY_MAGIC)) == NPY_MAGIC
  except (InputError, OSError):
    return False


def open_npy(path: str) -> Tuple[np.ndarray, bool]:
  """(the array as stored, memory-mapped: nothing is read yet; whether it is a batch). Shape and
  dtype are checked from the header first; an object array is never unpickled."""
  with _open(path) as f:
    try:
      version = np.lib.format.read_magic(f)
      # np.load's own header reader (every format version; header size bounded).
      read_header = np.lib.format._read_array_header  # type: ignore[attr-defined]  # no public one
      shape, fortran_order, dtype = read_header(f, version)
    except Exception as e:  # noqa: BLE001  # a corrupt header: SyntaxError, TokenError too
      raise InputError(f'cannot read the .npy file ({_one_line(e)})') from None
    if dtype.hasobject:
      raise InputError(
        'cannot read the .npy file (it holds Python objects, which are never unpickled)'
      )
    shape = list(shape)
    if len(shape) not in (2, 3) or shape[-2:] != [IMAGE_SIZE, IMAGE_SIZE]:
      raise InputError(f'an .npy array must be [28, 28] or [N, 28, 28]; got {shape}')
    if len(shape) == 3 and shape[0] == 0:
      raise InputError('the .npy array holds no images: [0, 28, 28]')
    if not (
      dtype == np.bool_ or np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)
    ):
      raise InputError(f'an .npy array must hold numbers; got dtype {dtype}')
    try:
      array = np.memmap(
        f,
        dtype=dtype,
        mode='r',
        shape=tuple(shape),
        offset=f.tell(),
        order='F' if fortran_order else 'C',
      )
    except (OSError, ValueError) as e:
      raise InputError(f'cannot read the .npy file ({_one_line(e)})') from None
  return (array if len(shape) == 3 else array[np.newaxis]), len(shape) == 3


def as_images(array: np.ndarray) -> np.ndarray:
  """Stored numbers → float32 model input: uint8 0-255 scaled to [0, 1], others as they are."""
  if array.dtype == np.uint8:
    return np.asarray(array, dtype=np.float32) / np.float32(255.0)
  return np.asarray(array, dtype=np.float32)


def load_npy(path: str) -> Tuple[np.ndarray, bool]:
  """(float32 [N, 28, 28] images, whether the file held a batch), all in memory: for a large
  file use load_batches. Values are not range-checked here: the `classify` signature refuses
  what is outside [0, 1] with its own message."""
  array, batch = open_npy(path)
  return as_images(array), batch


def load_batches(
  path: str, size: int = BATCH, rule: str = DIGIT
) -> Tuple[Iterator[np.ndarray], bool]:
  """(float32 [n <= size, 28, 28] batches in order, whether the file is a numbered batch): an
  .npy is read `size` images at a time from its memory map; a picture is one batch of one,
  prepared by `rule`. InputError at once for a file that cannot be read or prepared."""
  if not is_npy(path):
    return iter([prepare_picture(path, rule)[np.newaxis]]), False
  array, batch = open_npy(path)
  return (as_images(array[start : start + size]) for start in range(0, len(array), size)), batch


def load_gray(path: str) -> np.ndarray:
  """The picture as float32 gray levels 0-255, [H, W]; transparency composited (to_gray()).
  Read as components/lib/pictures.py reads every picture: bounded in memory, one frame only."""
  return to_gray(load_picture(path))


def load_picture(path: str):
  """The picture decoded (components/lib/pictures.read_picture); InputError otherwise."""
  with _open(path) as f:
    try:
      return read_picture(f)
    except PictureError as e:
      raise InputError(str(e)) from None


# --- preparing ----------------------------------------------------------------------------------


def border(gray: np.ndarray) -> np.ndarray:
  """The pixels of the picture's outer ring (about 1/20 of its size wide, at least 1 pixel)."""
  h, w = gray.shape
  k = max(1, min(h, w) // 20)
  if 2 * k >= min(h, w):
    return gray.ravel()
  return np.concatenate(
    [gray[:k].ravel(), gray[-k:].ravel(), gray[k:-k, :k].ravel(), gray[k:-k, -k:].ravel()]
  )


def ink(gray: np.ndarray) -> np.ndarray:
  """Gray levels 0-255 → ink in [0, 1], light on dark: 0 where the background is, 1 in the
  strokes.

  The background is the median of the border: if it is light (paper), the picture is inverted
  first. Then the background level is subtracted, the contrast stretched so that the strokes'
  typical level is 1 (clipped above), and what is below NOISE_FLOOR (paper grain, JPEG
  ringing, uneven light) set to 0."""
  gray = np.asarray(gray, dtype=np.float32)
  if gray.ndim != 2 or gray.size == 0:
    raise InputError(f'expected a 2-D picture; got shape {list(gray.shape)}')
  background = float(np.median(border(gray)))
  if background > 127.5:  # dark digit on light paper
    gray, background = 255.0 - gray, 255.0 - background
  if float(gray.max()) - background < MIN_CONTRAST:
    raise InputError('no digit found: the picture is a single flat tone')
  # The strokes' level, not the single brightest pixel (a speck, noise): the median of what is
  # over halfway from the background to the brightest.
  strong = gray[gray > background + (float(gray.max()) - background) / 2]
  contrast = float(np.median(strong)) - background
  values = np.clip((gray - background) / contrast, 0.0, 1.0)
  values[values < NOISE_FLOOR] = 0.0
  return values


def drop_specks(values: np.ndarray) -> np.ndarray:
  """Without the specks (dust, noise that passed the floor): patches of connected ink (8-way)
  with less than SPECK_SHARE of the largest patch's ink. They would widen the bounding box."""
  labels, count = ndimage.label(values > 0, structure=np.ones((3, 3)))
  if count <= 1:
    return values
  mass = np.asarray(ndimage.sum_labels(values, labels, index=np.arange(1, count + 1)))
  keep = np.concatenate([[False], mass >= SPECK_SHARE * mass.max()])
  return np.where(keep[labels], values, 0.0).astype(np.float32)


def bounding_box(values: np.ndarray) -> Tuple[int, int, int, int]:
  """(top, bottom, left, right), bottom/right exclusive, of the nonzero pixels."""
  rows = np.flatnonzero(values.any(axis=1))
  cols = np.flatnonzero(values.any(axis=0))
  if rows.size == 0:
    raise InputError('no digit found')
  return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def fit(values: np.ndarray, size: int = FIT) -> np.ndarray:
  """Scaled (anti-aliased) so that its longer side is `size`, keeping the aspect ratio."""
  h, w = values.shape
  scale = size / max(h, w)
  new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
  if (new_h, new_w) == (h, w):
    return values.astype(np.float32)
  resized = Image.fromarray(values.astype(np.float32), mode='F').resize(
    (new_w, new_h), Image.Resampling.BILINEAR
  )  # Pillow's BILINEAR averages when reducing
  return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def center_of_mass(values: np.ndarray) -> Tuple[float, float]:
  """(row, column) of the ink's centre of mass, in pixel-index coordinates."""
  total = float(values.sum())
  rows, cols = np.indices(values.shape)
  return float((rows * values).sum() / total), float((cols * values).sum() / total)


def center(digit: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
  """The digit pasted into a size×size field with its centre of mass at pixel (14, 14), to the
  nearest pixel, as in MNIST (its digits' centres of mass average 14.0 ± 0.3 in row and column
  index); kept whole inside the field."""
  h, w = digit.shape
  cy, cx = center_of_mass(digit)
  middle = size / 2.0
  top = min(max(int(np.floor(middle - cy + 0.5)), 0), size - h)
  left = min(max(int(np.floor(middle - cx + 0.5)), 0), size - w)
  field = np.zeros((size, size), np.float32)
  field[top : top + h, left : left + w] = digit
  return field


def prepare(gray: np.ndarray) -> np.ndarray:
  """Gray levels 0-255 [H, W], either polarity → float32 [28, 28] in [0, 1], light digit on
  black, MNIST-style: ink (background found, inverted if light) → specks dropped → bounding
  box → fit 20×20 → centred by centre of mass."""
  values = drop_specks(ink(gray))
  top, bottom, left, right = bounding_box(values)
  digit = fit(values[top:bottom, left:right])
  if not digit.any():
    raise InputError('no digit found')
  return np.clip(center(digit), 0.0, 1.0).astype(np.float32)


def prepare_picture(path: str, rule: str = DIGIT) -> np.ndarray:
  """The picture at `path` as float32 [28, 28] in [0, 1], prepared by `rule`."""
  if rule == WHOLE:
    return to_input(load_picture(path)).astype(np.float32) / np.float32(255.0)
  return prepare(load_gray(path))


def load(path: str, rule: str = DIGIT) -> Tuple[np.ndarray, bool]:
  """(float32 [N, 28, 28] for the model, whether it is a batch whose items are numbered)."""
  if is_npy(path):
    return load_npy(path)
  return prepare_picture(path, rule)[np.newaxis], False
