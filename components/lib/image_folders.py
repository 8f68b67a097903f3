"""A folder of pictures as a data set (--dataset images), and a folder of new pictures to label
(--infer-dir): its layout, classes and split, every file checked, and the manifest that is its
identity. Pure Python (Pillow, numpy); object stores through components/lib/artifact_files.py.

A data set's folder DIR holds either
- train/<class>/* and test/<class>/*: used as given (the test split is the Evaluator's); or
- <class>/*: a file goes to the test split when a hash of its path (relative to DIR) says so, 1
  in TEST_SHARE; a rerun gives the same split, and adding files moves none of the others.
Class names are the folder names, sorted: MIN_CLASSES to MAX_CLASSES (components/lib/
datasets.py). A folder of new pictures holds pictures only. Names starting with '.' are ignored
(.DS_Store, .ipynb_checkpoints); anything else that is not as above is refused.

Within a split the pictures go in the order of a hash of their path: classes interleaved (the
Trainer holds the split's tail out for validation, and shuffles in a bounded buffer) and the same
on every run. Each picture is read as components/lib/pictures.py reads it (bounded, 28×28 gray).
Every problem is an `MnistDataError` whose message is one line naming the file and the problem.
"""

import dataclasses
import hashlib
import os
import stat
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np

from components.lib import artifact_files, pictures
from components.lib.datasets import MAX_CLASSES, MIN_CLASSES
from components.lib.idx import MnistDataError
from components.lib.local_files import kind
from trainer_module.features import EVAL_SPLIT, IMAGE_SIZE, INFER_SPLIT, TRAIN_SPLIT

TRAIN_DIR, TEST_DIR = 'train', 'test'  # the folders of the given-split layout
SPLIT_DIRS = {TRAIN_SPLIT: TRAIN_DIR, EVAL_SPLIT: TEST_DIR}
TEST_SHARE = 6  # <class>/* layout: 1 file in 6 goes to the test split
HASH_CHUNK = 2**20
UNLABELLED = -1


@dataclasses.dataclass(frozen=True, slots=True)  # slots: a folder's listing is in memory
class Entry:
  path: str  # relative to the folder, '/'-separated
  label: int  # index into the class names; UNLABELLED in a folder of new pictures


@dataclasses.dataclass(frozen=True)
class Listing:
  layout: str  # 'train/test', '<class>' or 'unlabelled'
  class_names: Tuple[str, ...]
  splits: Dict[str, List[Entry]]  # split name -> its pictures, in the split's order


def path_hash(path: str) -> bytes:
  return hashlib.sha256(path.encode('utf-8')).digest()


def in_test(path: str) -> bool:
  """The <class>/* layout's split: a file is in the test split when its path's hash says so."""
  return int.from_bytes(path_hash(path)[:8], 'big') % TEST_SHARE == 0


def _join(folder: str, *parts: str) -> str:
  return artifact_files.join(folder, *parts)


def _names(folder: str) -> List[str]:
  """The names in a folder that count (not hidden), sorted."""
  try:
    names = artifact_files.listdir(folder)
  except Exception as e:  # noqa: BLE001  # OSError, or TensorFlow's for an object store
    raise MnistDataError(f'{folder}: cannot be listed ({_reason(e)})') from None
  return sorted(n for n in names if n and not n.startswith('.'))


def _reason(error: BaseException) -> str:
  if isinstance(error, OSError) and error.strerror:
    return error.strerror
  return ' '.join(str(error).split())[:200] or type(error).__name__


def _is_dir(path: str) -> bool:
  if artifact_files.is_local(path):
    return os.path.isdir(path)
  return artifact_files.isdir(path)


def _check_file(path: str) -> None:
  """MnistDataError unless `path` is a regular file (a folder, FIFO or device is refused)."""
  if not artifact_files.is_local(path):
    if artifact_files.isdir(path):
      raise MnistDataError(f'{path}: is a folder, not a picture')
    return
  try:
    mode = os.stat(path).st_mode
  except OSError as e:
    raise MnistDataError(f'{path}: cannot be read ({_reason(e)})') from None
  if stat.S_ISDIR(mode):
    raise MnistDataError(f'{path}: is a folder, not a picture (a folder of pictures holds files)')
  if not stat.S_ISREG(mode):
    raise MnistDataError(f'{path}: is {kind(mode)}, not a regular file')


def _pictures(folder: str, relative: str) -> List[str]:
  """The relative paths of the pictures in one class folder, or in a folder of new pictures
  (relative ''), each checked to be a file."""
  found = []
  for name in _names(folder):
    _check_file(_join(folder, name))
    found.append(f'{relative}/{name}' if relative else name)
  if not found:
    what = 'an empty class folder (no pictures in it)' if relative else 'no pictures in it'
    raise MnistDataError(f'{folder}: {what}')
  return found


def _class_dirs(folder: str) -> List[str]:
  """The class folders in `folder`, sorted; a file among them is refused."""
  names = _names(folder)
  for name in names:
    if not _is_dir(_join(folder, name)):
      raise MnistDataError(
        f'{_join(folder, name)}: a file beside the class folders (each class is a folder of '
        'pictures)'
      )
  return names


def _check_class_count(folder: str, names: List[str]) -> None:
  if not MIN_CLASSES <= len(names) <= MAX_CLASSES:
    shown = ', '.join(names[:5]) + (', …' if len(names) > 5 else '')
    raise MnistDataError(
      f'{folder}: {len(names)} class folder(s){f" ({shown})" if names else ""}; a data set '
      f'needs {MIN_CLASSES} to {MAX_CLASSES} classes, a folder of pictures each'
    )


def _ordered(entries: List[Entry]) -> List[Entry]:
  return sorted(entries, key=lambda e: path_hash(e.path))


def list_dataset(data_dir: str) -> Listing:
  """The data set in `data_dir`: its layout, classes and both splits; MnistDataError for a
  folder that is not one of the two layouts, an empty class folder, a test class that train/
  lacks, a non-regular file, or a split left without pictures."""
  top = _names(data_dir)
  given = [d for d in (TRAIN_DIR, TEST_DIR) if d in top and _is_dir(_join(data_dir, d))]
  if len(given) == 1:
    missing = TEST_DIR if given == [TRAIN_DIR] else TRAIN_DIR
    raise MnistDataError(
      f'{data_dir}: has {given[0]}/ but no {missing}/ (use both, or put the class folders '
      'in the folder itself and let the split be made)'
    )
  if given:
    for name in top:
      if name not in given:
        raise MnistDataError(
          f'{_join(data_dir, name)}: beside train/ and test/ (the folder holds those two only)'
        )
    classes = _class_dirs(_join(data_dir, TRAIN_DIR))
    _check_class_count(_join(data_dir, TRAIN_DIR), classes)
    label = {name: i for i, name in enumerate(classes)}
    splits: Dict[str, List[Entry]] = {}
    for split, folder in SPLIT_DIRS.items():
      entries = []
      for name in _class_dirs(_join(data_dir, folder)):
        if name not in label:
          raise MnistDataError(
            f'{_join(data_dir, folder, name)}: class {name!r} is not in train/ (each test '
            'class needs training pictures)'
          )
        for path in _pictures(_join(data_dir, folder, name), f'{folder}/{name}'):
          entries.append(Entry(path, label[name]))
      if not entries:
        raise MnistDataError(f'{_join(data_dir, folder)}: no class folders in it')
      splits[split] = _ordered(entries)
    return Listing('train/test', tuple(classes), splits)
  classes = _class_dirs(data_dir)
  _check_class_count(data_dir, classes)
  train: List[Entry] = []
  test: List[Entry] = []
  for label_index, name in enumerate(classes):
    paths = _pictures(_join(data_dir, name), name)
    kept = [Entry(p, label_index) for p in paths if not in_test(p)]
    if not kept:
      raise MnistDataError(
        f'{_join(data_dir, name)}: none of its {len(paths)} picture(s) is in the training split '
        f'(1 in {TEST_SHARE} go to the test split, by a hash of each path); add pictures'
      )
    train += kept
    test += [Entry(p, label_index) for p in paths if in_test(p)]
  if not test:
    raise MnistDataError(
      f'{data_dir}: none of its {len(train)} pictures is in the test split (1 in {TEST_SHARE} '
      'go there, by a hash of each path); add pictures, or make train/ and test/ folders'
    )
  return Listing(
    '<class>', tuple(classes), {TRAIN_SPLIT: _ordered(train), EVAL_SPLIT: _ordered(test)}
  )


def list_unlabelled(folder: str) -> Listing:
  """A folder of new pictures (--infer-dir): pictures only, in name order."""
  paths = _pictures(folder, '')
  return Listing('unlabelled', (), {INFER_SPLIT: [Entry(p, UNLABELLED) for p in paths]})


def read_entry(folder: str, entry: Entry) -> Tuple[np.ndarray, int, str]:
  """(uint8 [28, 28] model input, size in bytes, SHA-256) of one picture; MnistDataError naming
  the file otherwise. The bytes are hashed as a stream, then decoded (pictures.read_picture)."""
  path = _join(folder, *entry.path.split('/'))
  try:
    raw = artifact_files.open_binary(path)
  except Exception as e:  # noqa: BLE001  # OSError, NotRegularFileError, or TensorFlow's
    raise MnistDataError(f'{path}: cannot be read ({_reason(e)})') from None
  with raw:
    digest, size = hashlib.sha256(), 0
    try:
      while True:
        block = raw.read(HASH_CHUNK)
        if not block:
          break
        digest.update(block)
        size += len(block)
      raw.seek(0)
      image = pictures.read_input(raw)
    except pictures.PictureError as e:
      raise MnistDataError(f'{path}: {e}') from None
    except Exception as e:  # noqa: BLE001  # a read error of any filesystem
      raise MnistDataError(f'{path}: cannot be read ({_reason(e)})') from None
  return image, size, digest.hexdigest()


@dataclasses.dataclass
class Chunk:
  images: np.ndarray  # uint8 [n, 28, 28]
  labels: np.ndarray  # int64 [n]
  files: List[str]  # relative paths
  rows: List[Tuple[str, int, str]]  # (path, size, sha256): the manifest's rows


def read_chunks(
  folder: str, entries: List[Entry], chunk: int, limit: Optional[int] = None
) -> Iterator[Chunk]:
  """The first `limit` (None: all) of `entries`, `chunk` pictures at a time: memory is one chunk
  (and one picture being decoded), whatever the folder's size."""
  entries = entries if limit is None else entries[:limit]
  for start in range(0, len(entries), chunk):
    part = entries[start : start + chunk]
    images = np.zeros((len(part), IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    rows = []
    for i, entry in enumerate(part):
      images[i], size, sha = read_entry(folder, entry)
      rows.append((entry.path, size, sha))
    yield Chunk(images, np.array([e.label for e in part], np.int64), [e.path for e in part], rows)
