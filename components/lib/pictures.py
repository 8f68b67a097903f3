"""Any picture → the seed CNN's input, 28×28 gray: the one rule the image ExampleGen (training),
`mnist-tfx predict` (serving) and the `classify` signature's documentation share; and reading a
picture in bounded memory (pure: Pillow and numpy, no TensorFlow).

The rule (to_input): the picture as gray levels (colour by ITU-R 601 luma, transparency composited
onto a background that contrasts with what is drawn), stretched to 28×28 with Pillow's antialiased
bilinear resize (as Keras' image_dataset_from_directory resizes by default: the whole picture,
aspect ratio not kept), rounded to uint8 0-255. Polarity is kept as it is.

Bounds (read_picture): only PNG, JPEG, GIF, BMP and TIFF are opened, one frame only; the
pixel count is read from the header and a picture over MAX_PIXELS (40 megapixels) is refused
before it is decoded. A JPEG is decoded at a reduced scale (its DCT does that for free), any other
picture is reduced to at most WORK_PIXELS, a strip at a time, as soon as it is decoded, and only
then converted, so a picture is held whole once, at most 4 bytes a pixel: reading one costs at
most MAX_PICTURE_BYTES above what the process held before (a progressive CMYK JPEG, whose
decoder keeps every coefficient, comes closest; tests/components/lib/test_pictures.py measures
each format at the bound in its largest mode).

Every problem is a `PictureError` whose message is one line, without the file name.
"""

import math
import re
import warnings
from typing import IO, Optional

import numpy as np
from PIL import Image, UnidentifiedImageError

from trainer_module.features import IMAGE_SIZE

MAX_PIXELS = 40_000_000  # a 50-megapixel camera's 8688×5792 is 50.3; a 12-megapixel phone's is 12
WORK_PIXELS = 4_000_000  # decoded pictures are reduced (box filter) to at most this many pixels
# What reading one picture may cost: the decoded picture (at most 4 bytes for each of MAX_PIXELS)
# and a progressive JPEG's coefficients (tests/components/lib/test_pictures.py holds it to this).
MAX_PICTURE_BYTES = 400 * 2**20
REDUCE_STRIP = 256  # rows reduced at a time
# WebP is not among them: libwebp 1.x and Pillow hold a picture four times over as it decodes.
FORMATS = ('PNG', 'JPEG', 'GIF', 'BMP', 'TIFF')
FORMAT_NAMES = 'PNG, JPEG, GIF, BMP, TIFF'
_ALPHA_MODES = ('RGBA', 'LA', 'PA', 'La', 'RGBa')
_CONVERT_FIRST = ('1', 'P', 'PA')  # modes converted before they are reduced
# EXIF orientation → the transpose that puts the picture upright (ImageOps.exif_transpose's).
_ORIENTATION = {
  2: Image.Transpose.FLIP_LEFT_RIGHT,
  3: Image.Transpose.ROTATE_180,
  4: Image.Transpose.FLIP_TOP_BOTTOM,
  5: Image.Transpose.TRANSPOSE,
  6: Image.Transpose.ROTATE_270,
  7: Image.Transpose.TRANSVERSE,
  8: Image.Transpose.ROTATE_90,
}


class PictureError(ValueError):
  """A picture that cannot be read; the message is one line, without the file name."""


def _one_line(error: BaseException) -> str:
  text = ' '.join(str(error).split())
  return f'{type(error).__name__}: {text}' if text else type(error).__name__


def megapixels(pixels: int) -> str:
  return f'{pixels / 1e6:.1f} megapixels'


def check_size(width: int, height: int) -> None:
  """PictureError for a picture whose header declares more than MAX_PIXELS (or no pixels)."""
  if width < 1 or height < 1:
    raise PictureError(f'its header declares {width}x{height} pixels')
  if width * height > MAX_PIXELS:
    raise PictureError(
      f'its header declares {width}x{height} pixels ({megapixels(width * height)}), more than '
      f'the {megapixels(MAX_PIXELS)} a picture may have; scale it down first'
    )


def _has_alpha(image) -> bool:
  return image.mode in _ALPHA_MODES or (
    image.mode in ('P', 'L', 'RGB') and 'transparency' in image.info
  )


def _plain(image):
  """The picture in one of L, LA, RGB, RGBA, I, F: the modes reduce() and to_gray() take."""
  mode = image.mode
  if mode in ('L', 'RGB') and 'transparency' in image.info:
    return image.convert('RGBA')
  if mode in ('L', 'LA', 'RGB', 'RGBA', 'I', 'F'):
    return image
  if mode == '1':
    return image.convert('L')
  if mode in ('P', 'PA'):
    return image.convert('RGBA' if _has_alpha(image) else 'RGB')
  if mode.startswith('I;16'):
    return image.convert('I')
  if mode in ('La', 'RGBa'):
    return image.convert(mode.upper())
  return image.convert('RGB')  # CMYK, YCbCr, LAB, HSV


def _reduce(image, factor: int):
  """Image.reduce(factor) a strip of rows at a time: the same box averages, but Pillow's own
  reduce of an image with alpha first copies the whole of it (premultiplied), twice the memory."""
  width, height = image.size
  reduced = Image.new(image.mode, (math.ceil(width / factor), math.ceil(height / factor)))
  rows = factor * max(1, REDUCE_STRIP // factor)
  for top in range(0, height, rows):
    strip = image.crop((0, top, width, min(height, top + rows)))
    reduced.paste(strip.reduce(factor), (0, top // factor))
  return reduced


def _decode(image, orientation: Optional[int]):
  """The opened picture decoded, reduced to at most WORK_PIXELS, upright, in a plain mode."""
  width, height = image.size
  factor = math.ceil(math.sqrt(width * height / WORK_PIXELS))
  if factor > 1 and image.format == 'JPEG':
    # libjpeg decodes at 1/2, 1/4 or 1/8 scale directly: most of a large photo is never decoded.
    image.draft(None, (math.ceil(width / factor), math.ceil(height / factor)))
  image.load()  # decodes now: a truncated or corrupt file fails here
  if image.mode in _CONVERT_FIRST or image.mode.startswith('I;16'):
    image = _plain(image)  # a palette's indices, single bits, 16 bits: not to be averaged as such
  factor = math.ceil(math.sqrt(image.size[0] * image.size[1] / WORK_PIXELS))
  if factor > 1:
    image = _reduce(image, factor)
  image = _plain(image)  # CMYK, YCbCr, LAB, HSV: converted once small
  if orientation in _ORIENTATION:  # a phone photo taken sideways
    image = image.transpose(_ORIENTATION[orientation])
  return image


def read_picture(stream: IO[bytes]):
  """The picture in `stream` (a binary file object), decoded in bounded memory as the module
  says, upright, in mode L, LA, RGB, RGBA, I or F; PictureError otherwise."""
  try:
    with warnings.catch_warnings():
      # Pillow warns from 89 megapixels and refuses from 179 (Image.MAX_IMAGE_PIXELS); the
      # bound here is lower, checked below with the picture's own size.
      warnings.simplefilter('ignore', Image.DecompressionBombWarning)
      with Image.open(stream, formats=FORMATS) as image:
        check_size(*image.size)
        frames = getattr(image, 'n_frames', 1)
        if frames > 1:
          raise PictureError(
            f'has {frames} frames (an animation or multi-page file); save the frame '
            'to classify as a picture of its own'
          )
        orientation = image.getexif().get(0x0112)
        return _decode(image, orientation)
  except PictureError:
    raise
  except Image.DecompressionBombError as e:
    found = re.search(r'\((\d+) pixels\)', str(e))  # 'Image size (N pixels) exceeds limit …'
    pixels = f'{megapixels(int(found.group(1)))}' if found else 'more pixels than that'
    raise PictureError(
      f'its header declares {pixels}, more than the {megapixels(MAX_PIXELS)} a picture may have; '
      'scale it down first'
    ) from None
  except UnidentifiedImageError:
    raise PictureError(f'cannot read the image (not a picture format of {FORMAT_NAMES})') from None
  except MemoryError:
    raise PictureError('cannot read the image (out of memory decoding it)') from None
  except Exception as e:  # noqa: BLE001  # Pillow raises many kinds (SyntaxError too)
    raise PictureError(f'cannot read the image ({_one_line(e)})') from None


def to_gray(image) -> np.ndarray:
  """A Pillow image (any mode) → float32 gray 0-255 [H, W]; transparency composited
  (composite())."""
  mode = image.mode
  if mode in ('I', 'I;16', 'I;16B', 'I;16L', 'I;16N', 'F'):  # 16-bit, 32-bit or float gray
    values = np.asarray(image, dtype=np.float32)
    top = float(values.max()) if values.size else 0.0
    if mode == 'F' and top <= 1.0:
      scale = 1.0  # 0-1 floats
    else:
      scale = 255.0 if top <= 255 else (65535.0 if top <= 65535 else top)
    return np.clip(values * (255.0 / scale), 0, 255).astype(np.float32)
  if not _has_alpha(image):
    return np.asarray(image.convert('L'), dtype=np.float32)
  rgba = image.convert('RGBA')
  gray = np.asarray(rgba.convert('RGB').convert('L'), dtype=np.float32)
  alpha = np.asarray(rgba.getchannel('A'), dtype=np.float32) / 255.0
  return composite(gray, alpha)


def composite(gray: np.ndarray, alpha: np.ndarray) -> np.ndarray:
  """Transparent pixels onto a background that contrasts with the opaque ones: white under dark
  ink (a digit drawn on a transparent layer), black under light ink (a white digit on a
  transparent layer would vanish on white). A fully opaque picture is unchanged."""
  weight = alpha.sum()
  if weight == 0:
    return np.zeros_like(gray)  # nothing drawn at all
  ink_level = float((gray * alpha).sum() / weight)
  background = 0.0 if ink_level > 127.5 else 255.0
  return (gray * alpha + background * (1.0 - alpha)).astype(np.float32)


def resize_gray(gray: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
  """Gray levels 0-255 [H, W] → uint8 [size, size]: the whole picture stretched, antialiased."""
  gray = np.asarray(gray, dtype=np.float32)
  if gray.shape != (size, size):
    resized = Image.fromarray(gray, mode='F').resize((size, size), Image.Resampling.BILINEAR)
    gray = np.asarray(resized, dtype=np.float32)
  return np.clip(np.round(gray), 0, 255).astype(np.uint8)


def to_input(image) -> np.ndarray:
  """A decoded picture (read_picture) → the CNN's input: uint8 [28, 28], 0-255, as the module
  says. The ExampleGen stores these bytes; divided by 255 they are what `classify` takes."""
  return resize_gray(to_gray(image))


def read_input(stream: IO[bytes]) -> np.ndarray:
  """read_picture, then to_input: the uint8 [28, 28] model input of the picture in `stream`."""
  return to_input(read_picture(stream))
