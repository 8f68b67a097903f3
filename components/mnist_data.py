"""MNIST IDX files: their canonical digests, strict parsing and validation.

Pure Python + numpy so it can run anywhere (the ExampleGen executor and its Beam workers, tests).
Every problem is raised as `MnistDataError` whose message is one line naming the file and what is
wrong with it. Getting the files (a folder, the download cache, the mirrors) is mnist_download's.
"""
import dataclasses
import gzip
import hashlib
import os
import zlib
from typing import Dict, Optional, Tuple

import numpy as np

from components import datasets
from components.datasets import IMAGE_MAGIC, LABEL_MAGIC, IdxFile  # pylint: disable=unused-import
from trainer_module.features import IMAGE_SIZE, NUM_CLASSES

ROWS = COLS = IMAGE_SIZE

# What a data set is (its files, digests, class names, mirrors) lives in components/datasets.py.
FILES: Dict[str, Tuple[IdxFile, IdxFile]] = datasets.MNIST.files  # canonical MNIST
ALL_FILES = datasets.MNIST.all_files


class MnistDataError(ValueError):
  """Bad, missing or unobtainable MNIST input. The message is one user-facing line."""


@dataclasses.dataclass
class MnistSplit:
  images: np.ndarray  # uint8 [N, 28, 28]
  labels: np.ndarray  # uint8 [N]
  sha256: Dict[str, str]  # file name -> digest of the decompressed file


def is_remote(path: str) -> bool:
  from components.object_storage import enable_for
  enable_for(path)  # also in Beam worker processes, which start without s3://
  return '://' in path


# An unpinned file (--dataset idx) may declare at most this many decompressed bytes: 640 MiB is
# 850,000 images of 28x28, more than EMNIST's largest split; a pinned file no more than its pin.
MAX_IDX_BYTES = 640 * 2**20
CHUNK = 2**20


def open_file(path: str):
  """A local regular file (a FIFO or device is refused: components/local_files), or a gs:// /
  s3:// object through tf.io.gfile, opened for binary reading."""
  if is_remote(path):
    import tensorflow as tf  # Only remote filesystems need TF here.
    return tf.io.gfile.GFile(path, 'rb')
  from components.local_files import open_regular
  return open_regular(path)


def _exists(path: str) -> bool:
  if is_remote(path):
    import tensorflow as tf
    return tf.io.gfile.exists(path)
  return os.path.exists(path)


def decompress(name: str, raw: bytes, limit: int = MAX_IDX_BYTES) -> bytes:
  """The decompressed bytes of an in-memory gzip, refused past `limit` (inflated as a stream:
  a bomb stops at limit + 1 bytes)."""
  import io
  try:
    with gzip.GzipFile(fileobj=io.BytesIO(raw), mode='rb') as stream:
      data = stream.read(limit + 1)
  except (OSError, EOFError, zlib.error) as e:
    raise MnistDataError(f'{name}: not a readable gzip file ({e})') from None
  if len(data) > limit:
    raise MnistDataError(f'{name}: inflates to more than {limit} bytes')
  return data


def _header_shape(name: str, head: bytes, spec: IdxFile) -> Tuple[int, Tuple[int, ...]]:
  """(header length, array shape) from the first bytes, checking magic and image size."""
  if len(head) < 8:
    raise MnistDataError(f'{name}: truncated IDX header ({len(head)} bytes)')
  magic = int.from_bytes(head[0:4], 'big')
  if magic != spec.magic:
    kind = 'images' if spec.magic == IMAGE_MAGIC else 'labels'
    raise MnistDataError(
        f'{name}: bad magic number {magic}, expected {spec.magic} (IDX {kind} file)')
  count = int.from_bytes(head[4:8], 'big')
  if spec.magic != IMAGE_MAGIC:
    return 8, (count,)
  if len(head) < 16:
    raise MnistDataError(f'{name}: truncated IDX header ({len(head)} bytes)')
  rows = int.from_bytes(head[8:12], 'big')
  cols = int.from_bytes(head[12:16], 'big')
  if (rows, cols) != (ROWS, COLS):
    raise MnistDataError(f'{name}: images are {rows}x{cols}, expected {ROWS}x{COLS}')
  return 16, (count, ROWS, COLS)


def size_bound(spec: IdxFile) -> int:
  """The most decompressed bytes `spec`'s file may declare: its pinned size, else MAX_IDX_BYTES."""
  if spec.count is None or not spec.sha256:
    return MAX_IDX_BYTES
  return (16 + spec.count * ROWS * COLS) if spec.magic == IMAGE_MAGIC else 8 + spec.count


def read_idx(name: str, stream, spec: IdxFile, digest: bool = True,
             bound: Optional[int] = None) -> Tuple[np.ndarray, str]:
  """Parses an IDX file from a binary stream of its decompressed bytes (a GzipFile inflates as
  it is read): the header is checked first, its declared size against `bound` (size_bound()),
  then at most one byte past the declared size is read. Returns (array, SHA-256 or '')."""
  bound = size_bound(spec) if bound is None else bound
  try:
    head = stream.read(16 if spec.magic == IMAGE_MAGIC else 8)
    header, shape = _header_shape(name, head, spec)
    expected = header + int(np.prod(shape, dtype=np.int64))
    if expected > bound:
      raise MnistDataError(f'{name}: its header declares {shape[0]} items ({expected} bytes), more '
                           f'than the {bound} bytes this data set allows')
    data = bytearray(expected)
    data[:header] = head
    view, got = memoryview(data), header
    while got < expected:
      n = stream.readinto(view[got:min(expected, got + CHUNK)])
      if not n:
        break
      got += n
    extra = stream.read(1) if got == expected else b''
  except (OSError, EOFError, zlib.error) as e:
    raise MnistDataError(f'{name}: not a readable gzip file ({e})') from None
  if got != expected or extra:
    size = f'more than {expected}' if extra else str(got)
    raise MnistDataError(f'{name}: size {size} bytes does not match its header '
                         f'({shape[0]} items need {expected} bytes)')
  array = np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)
  return array, hashlib.sha256(data).hexdigest() if digest else ''


def parse_idx(name: str, data: bytes, spec: IdxFile) -> np.ndarray:
  """Parses decompressed IDX bytes, checking magic, shape and size against the header."""
  header, shape = _header_shape(name, data[:16], spec)
  expected = header + int(np.prod(shape, dtype=np.int64))
  if len(data) != expected:
    raise MnistDataError(f'{name}: size {len(data)} bytes does not match its header '
                         f'({shape[0]} items need {expected} bytes)')
  return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def sha256_hex(data: bytes) -> str:
  return hashlib.sha256(data).hexdigest()


def _read_problem(path: str, error: BaseException) -> str:
  """One phrase for why `path` could not be opened: the network's truth for a remote file."""
  if is_remote(path):
    from components import object_storage
    problem = object_storage.unreachable(path) or object_storage.denied(error) or \
        object_storage.refused(path)
    if problem:
      return problem
  if isinstance(error, OSError):
    return f'cannot be read ({error.strerror or error})'
  text = ' '.join(str(error).split())[:200]
  return f'cannot be read ({type(error).__name__}: {text})'


def _load_file(data_dir: str, spec: IdxFile, digest: bool = True) -> Tuple[np.ndarray, str]:
  """The file's array (structure checked) and the digest of its decompressed bytes ('' when
  not asked for); inflated as a stream, so memory is bounded by size_bound(spec)."""
  path = os.path.join(data_dir, spec.name)
  try:
    found = _exists(path)
    raw = open_file(path) if found else None
  except Exception as e:  # pylint: disable=broad-except  # OSError, or TensorFlow's for a remote file
    raise MnistDataError(f'{spec.name}: {_read_problem(path, e)}') from None
  if raw is None:
    if is_remote(path):  # not found, or not reachable, or the credentials refused?
      from components import object_storage
      problem = object_storage.unreachable(path)
      if problem:
        raise MnistDataError(f'{spec.name}: {problem} (reading {data_dir})')
      problem = object_storage.refused(data_dir)
      if problem:
        raise MnistDataError(f'{data_dir}: {problem}')
    raise MnistDataError(f'{spec.name}: missing from {data_dir}')
  with raw, gzip.GzipFile(fileobj=raw, mode='rb') as stream:
    return read_idx(spec.name, stream, spec, digest)


def load_split(data_dir: str, prefix: str, validated: bool = False,
               dataset: Optional[datasets.Dataset] = None) -> MnistSplit:
  """Loads and fully validates one split ('train' or 't10k') of `dataset` (default MNIST) from
  `data_dir`; with `validated`, files validate_dir() already passed are only parsed (no digests
  again). A data set without pinned digests gets every check but the digest."""
  dataset = datasets.get(dataset)
  if prefix not in dataset.files:
    raise MnistDataError(f'unknown MNIST split {prefix!r}; expected one of {sorted(dataset.files)}')
  image_spec, label_spec = dataset.files[prefix]
  images, image_digest = _load_file(data_dir, image_spec, digest=not validated)
  labels, label_digest = _load_file(data_dir, label_spec, digest=not validated)
  # Structural problems first (clearer than a digest mismatch), then identity.
  if len(images) != len(labels):
    raise MnistDataError(
        f'{label_spec.name}: {len(labels)} labels but {image_spec.name} has {len(images)} images')
  if labels.size and labels.max() >= NUM_CLASSES:
    bad = int(np.argmax(labels >= NUM_CLASSES))
    raise MnistDataError(
        f'{label_spec.name}: label {int(labels[bad])} at index {bad} is outside 0-9')
  for spec, digest in ((image_spec, image_digest), (label_spec, label_digest)):
    if not validated and spec.sha256 and digest != spec.sha256:
      raise MnistDataError(
          f'{spec.name}: SHA-256 of the decompressed file is {digest}, expected '
          f'{spec.sha256} (not the canonical {dataset.title} file)')
  return MnistSplit(images, labels, {image_spec.name: image_digest, label_spec.name: label_digest})


def validate_dir(data_dir: str, dataset: Optional[datasets.Dataset] = None) -> Dict[str, str]:
  """Validates all four files of `dataset` (default MNIST); returns file name -> decompressed
  SHA-256."""
  return {name: digest for split in validate_splits(data_dir, dataset).values()
          for name, digest in split.sha256.items()}


def validate_splits(data_dir: str, dataset: Optional[datasets.Dataset] = None) -> Dict[str, MnistSplit]:
  """Validates all four files; returns prefix ('train', 't10k') -> the split's arrays."""
  dataset = datasets.get(dataset)
  return {prefix: load_split(data_dir, prefix, dataset=dataset) for prefix in dataset.files}
