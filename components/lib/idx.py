"""MNIST IDX files: their canonical digests, strict parsing and validation.

Pure Python + numpy so it can run anywhere (the ExampleGen executor and its Beam workers, tests).
Every problem is raised as `MnistDataError` whose message is one line naming the file and what is
wrong with it. Getting the files (a folder, the download cache, the mirrors) is mnist_download's.
"""

import contextlib
import dataclasses
import gzip
import hashlib
import io
import os
import zlib
from typing import Callable, Dict, Iterator, Optional, Tuple

import numpy as np

from components.lib import artifact_files, datasets, object_storage
from components.lib.datasets import IMAGE_MAGIC, IdxFile
from components.lib.object_storage import enable_for
from trainer_module.features import IMAGE_SIZE, NUM_CLASSES

ROWS = COLS = IMAGE_SIZE

# What a data set is (its files, digests, class names, mirrors) lives in components/lib/datasets.py.
FILES: Dict[str, Tuple[IdxFile, IdxFile]] = datasets.MNIST.files  # canonical MNIST
ALL_FILES = datasets.MNIST.all_files


class MnistDataError(ValueError):
  """Bad, missing or unobtainable MNIST input. The message is one user-facing line."""


@dataclasses.dataclass
class MnistSplitCheck:
  count: int  # examples in the split
  sha256: Dict[str, str]  # file name -> digest of the decompressed file


@dataclasses.dataclass
class MnistSplit:
  images: np.ndarray  # uint8 [N, 28, 28]
  labels: np.ndarray  # uint8 [N]
  sha256: Dict[str, str]  # file name -> digest of the decompressed file


def is_remote(path: str) -> bool:
  enable_for(path)  # also in Beam worker processes, which start without s3://
  return '://' in path


# An unpinned file (--dataset idx) may declare at most this many decompressed bytes: 640 MiB is
# 850,000 images of 28x28, more than EMNIST's largest split; a pinned file no more than its pin.
MAX_IDX_BYTES = 640 * 2**20
CHUNK = 2**20


open_file = artifact_files.open_binary  # a local regular file, or a gs:// / s3:// object
_exists = artifact_files.exists


def decompress(name: str, raw: bytes, limit: int = MAX_IDX_BYTES) -> bytes:
  """The decompressed bytes of an in-memory gzip, refused past `limit` (inflated as a stream:
  a bomb stops at limit + 1 bytes)."""
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
      f'{name}: bad magic number {magic}, expected {spec.magic} (IDX {kind} file)'
    )
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


class IdxReader:
  """An IDX file read item by item from a binary stream of its decompressed bytes (a GzipFile
  inflates as it is read), so memory is one chunk, whatever the file's size: the header is
  checked at once, its declared size against `bound` (size_bound()); read(n) gives the next n
  items (fewer only at the end); finish() checks nothing follows and gives the SHA-256 ('' when
  not asked for)."""

  def __init__(
    self, name: str, stream, spec: IdxFile, digest: bool = True, bound: Optional[int] = None
  ):
    self.name, self._stream = name, stream
    bound = size_bound(spec) if bound is None else bound
    head = self._read(16 if spec.magic == IMAGE_MAGIC else 8)
    header, self.shape = _header_shape(name, head, spec)
    self.count = self.shape[0]
    self._item = int(np.prod(self.shape[1:], dtype=np.int64))
    self._expected = header + self.count * self._item
    if self._expected > bound:
      raise MnistDataError(
        f'{name}: its header declares {self.count} items ({self._expected} '
        f'bytes), more than the {bound} bytes this data set allows'
      )
    self._hash = hashlib.sha256(head) if digest else None
    self._got, self.done = header, 0

  def _read(self, n: int) -> bytes:
    try:
      return self._stream.read(n)
    except object_storage.DeadlineExceeded as e:
      raise MnistDataError(f'{self.name}: {e}') from None
    except (OSError, EOFError, zlib.error) as e:
      raise MnistDataError(f'{self.name}: not a readable gzip file ({e})') from None

  def _size_error(self, size) -> MnistDataError:
    return MnistDataError(
      f'{self.name}: size {size} bytes does not match its header '
      f'({self.count} items need {self._expected} bytes)'
    )

  def read(self, n: int) -> np.ndarray:
    """The next min(n, items left) items as uint8 [n, ...]."""
    n = max(0, min(n, self.count - self.done))
    data = bytearray(n * self._item)
    view, got = memoryview(data), 0
    try:
      while got < len(data):
        size = self._stream.readinto(view[got : min(len(data), got + CHUNK)])
        if not size:
          raise self._size_error(self._got + got)
        got += size
    except (OSError, EOFError, zlib.error) as e:
      raise MnistDataError(f'{self.name}: not a readable gzip file ({e})') from None
    self._got += got
    self.done += n
    if self._hash is not None:
      self._hash.update(data)
    return np.frombuffer(data, dtype=np.uint8).reshape((n, *self.shape[1:]))

  def finish(self) -> str:
    """After all items: checks the file ends there; its SHA-256 (or '')."""
    if self.done < self.count:
      raise ValueError(f'{self.name}: finish() before all {self.count} items were read')
    if self._read(1):
      raise self._size_error(f'more than {self._expected}')
    return self._hash.hexdigest() if self._hash is not None else ''


def read_idx(
  name: str, stream, spec: IdxFile, digest: bool = True, bound: Optional[int] = None
) -> Tuple[np.ndarray, str]:
  """Parses a whole IDX file from a binary stream of its decompressed bytes (IdxReader: header
  and declared size checked first, at most one byte past it read). Returns (array, SHA-256 or
  '')."""
  reader = IdxReader(name, stream, spec, digest, bound)
  array = reader.read(reader.count)
  return array, reader.finish()


def parse_idx(name: str, data: bytes, spec: IdxFile) -> np.ndarray:
  """Parses decompressed IDX bytes, checking magic, shape and size against the header."""
  header, shape = _header_shape(name, data[:16], spec)
  expected = header + int(np.prod(shape, dtype=np.int64))
  if len(data) != expected:
    raise MnistDataError(
      f'{name}: size {len(data)} bytes does not match its header '
      f'({shape[0]} items need {expected} bytes)'
    )
  return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def sha256_hex(data: bytes) -> str:
  return hashlib.sha256(data).hexdigest()


def _read_problem(path: str, error: BaseException) -> str:
  """One phrase for why `path` could not be opened: the network's truth for a remote file."""
  if isinstance(error, object_storage.DeadlineExceeded):
    return str(error)  # it reached the store, which never answered whole: asking again waits again
  if is_remote(path):
    problem = (
      object_storage.unreachable(path)
      or object_storage.denied(error)
      or object_storage.refused(path)
    )
    if problem:
      return problem
  if isinstance(error, OSError):
    return f'cannot be read ({error.strerror or error})'
  text = ' '.join(str(error).split())[:200]
  return f'cannot be read ({type(error).__name__}: {text})'


def _open_raw(data_dir: str, spec: IdxFile):
  """The file `spec` names in `data_dir`, opened for binary reading; one clear line if not."""
  path = os.path.join(data_dir, spec.name)
  try:
    found = _exists(path)
    raw = open_file(path) if found else None
  except Exception as e:  # noqa: BLE001  # OSError, or TensorFlow's for a remote file
    raise MnistDataError(f'{spec.name}: {_read_problem(path, e)}') from None
  if raw is None:
    if is_remote(path):  # not found, or not reachable, or the credentials refused?
      problem = object_storage.unreachable(path)
      if problem:
        raise MnistDataError(f'{spec.name}: {problem} (reading {data_dir})')
      problem = object_storage.refused(data_dir)
      if problem:
        raise MnistDataError(f'{data_dir}: {problem}')
    raise MnistDataError(f'{spec.name}: missing from {data_dir}')
  return raw


def _load_file(data_dir: str, spec: IdxFile, digest: bool = True) -> Tuple[np.ndarray, str]:
  """The file's array (structure checked) and the digest of its decompressed bytes ('' when
  not asked for); inflated as a stream, so memory is bounded by size_bound(spec)."""
  with _open_raw(data_dir, spec) as raw, gzip.GzipFile(fileobj=raw, mode='rb') as stream:
    return read_idx(spec.name, stream, spec, digest)


def _check_labels(label_spec: IdxFile, labels: np.ndarray, offset: int = 0) -> None:
  if labels.size and labels.max() >= NUM_CLASSES:
    bad = int(np.argmax(labels >= NUM_CLASSES))
    raise MnistDataError(
      f'{label_spec.name}: label {int(labels[bad])} at index {offset + bad} is outside 0-9'
    )


def _check_digests(dataset: datasets.Dataset, found: Dict[IdxFile, str]) -> None:
  for spec, digest in found.items():
    if spec.sha256 and digest != spec.sha256:
      raise MnistDataError(
        f'{spec.name}: SHA-256 of the decompressed file is {digest}, expected '
        f'{spec.sha256} (not the canonical {dataset.title} file)'
      )


def _split_specs(dataset: datasets.Dataset, prefix: str) -> Tuple[IdxFile, IdxFile]:
  if prefix not in dataset.files:
    raise MnistDataError(f'unknown MNIST split {prefix!r}; expected one of {sorted(dataset.files)}')
  return dataset.files[prefix]


def read_chunks(
  data_dir: str,
  prefix: str,
  chunk: int,
  limit: Optional[int] = None,
  dataset: Optional[datasets.Dataset] = None,
  digests: Optional[Dict[str, str]] = None,
) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
  """One split's (images, labels) in order, `chunk` examples at most at a time, from the two
  files inflated side by side: memory is one chunk whatever the split's size. Every check of
  load_split() is made on the way (a problem may surface after earlier chunks were yielded, so
  validate first where nothing may be written from a bad file); with `limit`, only the first
  `limit` examples are read and checked. The files' digests ('' unless read whole) go into
  `digests` (file name -> SHA-256) when given."""
  dataset = datasets.get(dataset)
  image_spec, label_spec = _split_specs(dataset, prefix)
  whole = limit is None
  with contextlib.ExitStack() as stack:
    readers = []
    for spec in (image_spec, label_spec):
      raw = stack.enter_context(_open_raw(data_dir, spec))
      stream = stack.enter_context(gzip.GzipFile(fileobj=raw, mode='rb'))
      readers.append(IdxReader(spec.name, stream, spec, digest=digests is not None and whole))
    images, labels = readers
    if images.count != labels.count:
      raise MnistDataError(
        f'{label_spec.name}: {labels.count} labels but {image_spec.name} has {images.count} images'
      )
    total = images.count if limit is None else min(limit, images.count)
    while images.done < total:
      start = images.done
      n = min(chunk, total - start)
      image_chunk, label_chunk = images.read(n), labels.read(n)
      _check_labels(label_spec, label_chunk, start)
      yield image_chunk, label_chunk
    if whole:
      found = {image_spec: images.finish(), label_spec: labels.finish()}
      if digests is not None:
        digests.update({spec.name: digest for spec, digest in found.items()})


def check_split(
  data_dir: str,
  prefix: str,
  dataset: Optional[datasets.Dataset] = None,
  each: Optional[Callable[[np.ndarray, np.ndarray], None]] = None,
  chunk: int = 10000,
) -> MnistSplitCheck:
  """Fully validates one split as load_split() does, digests included, reading it as a stream
  (read_chunks): memory is one chunk. `each` sees every (images, labels) chunk in order."""
  dataset = datasets.get(dataset)
  digests: Dict[str, str] = {}
  count = 0
  for images, labels in read_chunks(data_dir, prefix, chunk, dataset=dataset, digests=digests):
    count += len(labels)
    if each is not None:
      each(images, labels)
  specs = _split_specs(dataset, prefix)
  _check_digests(dataset, {spec: digests[spec.name] for spec in specs})
  return MnistSplitCheck(count, digests)


def load_split(
  data_dir: str, prefix: str, validated: bool = False, dataset: Optional[datasets.Dataset] = None
) -> MnistSplit:
  """Loads and fully validates one split ('train' or 't10k') of `dataset` (default MNIST) from
  `data_dir`; with `validated`, files validate_dir() already passed are only parsed (no digests
  again). A data set without pinned digests gets every check but the digest."""
  dataset = datasets.get(dataset)
  image_spec, label_spec = _split_specs(dataset, prefix)
  images, image_digest = _load_file(data_dir, image_spec, digest=not validated)
  labels, label_digest = _load_file(data_dir, label_spec, digest=not validated)
  # Structural problems first (clearer than a digest mismatch), then identity.
  if len(images) != len(labels):
    raise MnistDataError(
      f'{label_spec.name}: {len(labels)} labels but {image_spec.name} has {len(images)} images'
    )
  _check_labels(label_spec, labels)
  if not validated:
    _check_digests(dataset, {image_spec: image_digest, label_spec: label_digest})
  return MnistSplit(images, labels, {image_spec.name: image_digest, label_spec.name: label_digest})


def validate_dir(data_dir: str, dataset: Optional[datasets.Dataset] = None) -> Dict[str, str]:
  """Validates all four files of `dataset` (default MNIST); returns file name -> decompressed
  SHA-256."""
  return {
    name: digest
    for split in validate_splits(data_dir, dataset).values()
    for name, digest in split.sha256.items()
  }


def validate_splits(
  data_dir: str, dataset: Optional[datasets.Dataset] = None
) -> Dict[str, MnistSplit]:
  """Validates all four files; returns prefix ('train', 't10k') -> the split's arrays."""
  dataset = datasets.get(dataset)
  return {prefix: load_split(data_dir, prefix, dataset=dataset) for prefix in dataset.files}
