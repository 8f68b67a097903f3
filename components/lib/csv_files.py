"""A CSV data set (--dataset csv), in Kaggle's layout (digit-recognizer, Fashion-MNIST): a folder
holding train.csv and test.csv, each a header `label,pixel0,…,pixel783` then one 28×28 image a
row (integers 0-255, row-major) with its label 0..K-1; an optional classes.txt names the labels,
one name a line (without it they are named 0..K-1, K the largest training label + 1). Every
class needs a training row. Pure Python and numpy; object stores through artifact_files.

A file is read as a stream of lines, each at most MAX_LINE bytes (a row takes at most 3,140), a
chunk of rows at a time, and hashed as it is read (its SHA-256 is its identity). Every problem is
an `MnistDataError` whose message is one line naming the file, the line and the problem.
"""

import hashlib
from typing import IO, Iterator, List, Optional, Tuple

import numpy as np

from components.lib import artifact_files
from components.lib.datasets import MAX_CLASSES, MIN_CLASSES
from components.lib.idx import MnistDataError
from trainer_module.features import EVAL_SPLIT, IMAGE_SIZE, TRAIN_SPLIT

CSV_FILES = {TRAIN_SPLIT: 'train.csv', EVAL_SPLIT: 'test.csv'}
CLASSES_FILE = 'classes.txt'
PIXELS = IMAGE_SIZE * IMAGE_SIZE
HEADER = ','.join(['label'] + [f'pixel{i}' for i in range(PIXELS)])
MAX_LINE = 8192  # bytes; a row of 785 numbers of up to 3 digits takes 3,140 with its commas
MAX_CLASSES_FILE = 2**20
READ_BLOCK = 2**20


def _lines(name: str, stream: IO[bytes], digest) -> Iterator[bytes]:
  """The stream's lines without their line ends ('\\n' or '\\r\\n'), each at most MAX_LINE bytes,
  every byte read fed to `digest`."""
  pending, number = b'', 0
  while True:
    block = stream.read(READ_BLOCK)
    if not block:
      break
    digest.update(block)
    lines = (pending + block).split(b'\n')
    pending = lines.pop()
    for line in lines:
      number += 1
      if len(line) > MAX_LINE:
        raise MnistDataError(f'{name}: line {number} is longer than {MAX_LINE} bytes')
      yield line.rstrip(b'\r')
    if len(pending) > MAX_LINE:
      raise MnistDataError(f'{name}: line {number + 1} is longer than {MAX_LINE} bytes')
  if pending:
    yield pending.rstrip(b'\r')


def _field_problem(fields: List[bytes], num_classes: int) -> Optional[str]:
  """What is wrong with one row (None if nothing)."""
  if len(fields) != PIXELS + 1:
    return f'{len(fields)} fields, expected {PIXELS + 1} (label and {PIXELS} pixels)'
  for i, text in enumerate(fields):
    what = 'the label' if i == 0 else f'pixel{i - 1}'
    try:
      value = int(text)
    except ValueError:
      shown = text.decode('utf-8', 'replace')[:20]
      return f'{what} is {shown!r}, expected a whole number'
    high = num_classes - 1 if i == 0 else 255
    if not 0 <= value <= high:
      kind = 'a label' if i == 0 else 'a pixel'
      return f'{what} is {value}, {kind} is 0-{high}'
  return None


def parse_rows(
  name: str, lines: List[bytes], first_line: int, num_classes: int
) -> Tuple[np.ndarray, np.ndarray]:
  """(uint8 images [n, 28, 28], int64 labels [n]) of data rows; MnistDataError naming the line of
  the first bad one. Parsed a chunk at a time; a chunk that does not parse is walked row by row
  for the message."""
  try:
    table = np.array([line.split(b',') for line in lines], dtype=np.bytes_)
    if table.ndim != 2 or table.shape[1] != PIXELS + 1:
      raise ValueError('ragged')
    values = table.astype(np.int64)
    if values[:, 1:].min(initial=0) < 0 or values[:, 1:].max(initial=0) > 255:
      raise ValueError('pixel range')
    if values[:, 0].min(initial=0) < 0 or values[:, 0].max(initial=0) >= num_classes:
      raise ValueError('label range')
  except (ValueError, OverflowError):
    for offset, line in enumerate(lines):
      problem = (
        'an empty line' if not line.strip() else _field_problem(line.split(b','), num_classes)
      )
      if problem:
        raise MnistDataError(f'{name}: line {first_line + offset}: {problem}') from None
    last = first_line + len(lines) - 1
    raise MnistDataError(f'{name}: lines {first_line}-{last} cannot be parsed') from None
  images = values[:, 1:].astype(np.uint8).reshape(len(lines), IMAGE_SIZE, IMAGE_SIZE)
  return images, values[:, 0]


def read_rows(
  data_dir: str,
  split: str,
  chunk: int,
  num_classes: Optional[int],
  limit: Optional[int] = None,
  digest=None,
) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
  """One split's (images, labels), `chunk` rows at a time, the header and every row checked
  (labels below `num_classes`, or below MAX_CLASSES when it is not known yet); only the first
  `limit` rows when given. Every byte read goes to `digest` (hashlib), when given."""
  name = CSV_FILES[split]
  path = artifact_files.join(data_dir, name)
  digest = digest if digest is not None else hashlib.sha256()
  classes = num_classes or MAX_CLASSES
  try:
    stream = artifact_files.open_binary(path)
  except FileNotFoundError:
    raise MnistDataError(f'{name}: missing from {data_dir}') from None
  except Exception as e:  # noqa: BLE001  # OSError, NotRegularFileError, TensorFlow's
    raise MnistDataError(f'{name}: cannot be read ({_reason(e)})') from None
  with stream:
    lines = _lines(name, stream, digest)
    try:
      first_line = next(lines, None)
      if first_line is None:
        raise MnistDataError(f'{name}: empty (expected a header, then a row per image)')
      header = first_line.removeprefix(b'\xef\xbb\xbf').decode('utf-8', 'replace').strip()
      if header.replace(' ', '') != HEADER:
        raise MnistDataError(
          f'{name}: line 1 is not the header label,pixel0,...,pixel{PIXELS - 1} (got '
          f'{header[:40]!r}{"…" if len(header) > 40 else ""})'
        )
      done, first = 0, 2
      batch: List[bytes] = []
      for line in lines:
        if limit is not None and done + len(batch) >= limit:
          break
        batch.append(line)
        if len(batch) == chunk:
          yield parse_rows(name, batch, first, classes)
          done, first, batch = done + len(batch), first + len(batch), []
      if batch:
        yield parse_rows(name, batch, first, classes)
        done += len(batch)
      if not done:
        raise MnistDataError(f'{name}: no rows after the header')
    except OSError as e:
      raise MnistDataError(f'{name}: cannot be read ({_reason(e)})') from None


def _reason(error: BaseException) -> str:
  if isinstance(error, OSError) and error.strerror:
    return error.strerror
  return ' '.join(str(error).split())[:200] or type(error).__name__


def read_class_names(data_dir: str) -> Optional[Tuple[str, ...]]:
  """The names in classes.txt (one a line), or None when there is no such file."""
  path = artifact_files.join(data_dir, CLASSES_FILE)
  if not artifact_files.exists(path):
    return None
  try:
    with artifact_files.open_binary(path) as f:
      data = f.read(MAX_CLASSES_FILE + 1)
  except Exception as e:  # noqa: BLE001  # OSError, NotRegularFileError, TensorFlow's
    raise MnistDataError(f'{CLASSES_FILE}: cannot be read ({_reason(e)})') from None
  if len(data) > MAX_CLASSES_FILE:
    raise MnistDataError(f'{CLASSES_FILE}: larger than {MAX_CLASSES_FILE} bytes')
  try:
    text = data.decode('utf-8-sig')
  except UnicodeDecodeError:
    raise MnistDataError(f'{CLASSES_FILE}: not UTF-8 text') from None
  names = [line.rstrip('\r') for line in text.split('\n')]
  while names and not names[-1].strip():
    names.pop()
  for number, name in enumerate(names, start=1):
    if not name.strip():
      raise MnistDataError(f'{CLASSES_FILE}: line {number} is empty (one class name a line)')
    if name in names[: number - 1]:
      raise MnistDataError(f'{CLASSES_FILE}: line {number}: {name!r} is named twice')
  if not MIN_CLASSES <= len(names) <= MAX_CLASSES:
    raise MnistDataError(
      f'{CLASSES_FILE}: {len(names)} class name(s); a data set needs {MIN_CLASSES} to '
      f'{MAX_CLASSES} classes'
    )
  return tuple(names)


def class_names_for(counts: np.ndarray, given: Optional[Tuple[str, ...]]) -> Tuple[str, ...]:
  """The class names once the training labels are counted (counts[i]: rows of label i): the given
  ones, else 0..K-1 with K the largest label + 1; MnistDataError for a class without a row."""
  present = np.flatnonzero(counts)
  size = len(given) if given else (int(present[-1]) + 1 if present.size else 0)
  names = given or tuple(str(i) for i in range(size))
  if len(names) < MIN_CLASSES:
    raise MnistDataError(
      f'{CSV_FILES[TRAIN_SPLIT]}: {len(names)} class(es) among its labels; a data set needs '
      f'{MIN_CLASSES} to {MAX_CLASSES} classes'
    )
  for label in range(len(names)):
    if label >= len(counts) or not counts[label]:
      raise MnistDataError(
        f'{CSV_FILES[TRAIN_SPLIT]}: no row has label {label} ({names[label]!r}); every class '
        'needs training rows'
      )
  return names
