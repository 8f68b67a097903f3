"""The data sets whose classes come from the data (--dataset images, csv) and a folder of new
pictures (--infer-dir), as the ExampleGen reads them: a check pass over every file first (nothing
is written before it ends), then a read pass that writes, verifying it read what was checked.

Both passes go a chunk at a time. The check pass gives each split's count and the identity of
the rows it will write, and adds a row per file to the manifest (path, class, split, size,
SHA-256), a local temporary file until the pass is over: memory is one chunk of pictures and the
folder's listing, whatever its size. The read pass computes the same identity and refuses data
that changed in between. No TensorFlow here.
"""

import csv
import dataclasses
import hashlib
import tempfile
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np

from components.lib import csv_files, datasets, image_folders
from components.lib.idx import MnistDataError
from trainer_module.features import EVAL_SPLIT, TRAIN_SPLIT

MANIFEST_HEADER = ('path', 'class', 'split', 'size', 'sha256')
Each = Callable[[np.ndarray, np.ndarray], None]  # (images, labels) of each chunk


class Identity:
  """SHA-256 over the rows read (each row's bytes, then a newline), and the same over only the
  first `at` of them: what a split limited to `at` examples was written from."""

  def __init__(self, at: Optional[int] = None):
    self._digest, self._at, self.count = hashlib.sha256(), at, 0
    self._prefix: Optional[str] = None

  def update(self, row: bytes) -> None:
    self._digest.update(row + b'\n')
    self.count += 1
    if self.count == self._at:
      self._prefix = self._digest.hexdigest()

  def hexdigest(self) -> str:
    """Of the first `at` rows when that many were read, else of all."""
    return self._prefix or self._digest.hexdigest()


@dataclasses.dataclass
class SplitCheck:
  count: int  # examples in the split
  identity: str  # Identity of the rows that will be written (the first `limit` of them)


class Manifest:
  """Every file of a data set, a MANIFEST_HEADER row each, in the splits' order, written to a
  local temporary file as the check pass goes; its SHA-256 is the data's identity in lineage."""

  def __init__(self):
    self._file = tempfile.TemporaryFile('w+', encoding='utf-8', newline='')
    self._csv = csv.writer(self._file, lineterminator='\n')
    self._csv.writerow(MANIFEST_HEADER)
    self.first: Dict[str, Tuple[str, str, str, int, str]] = {}  # split -> its first row

  def add(self, path: str, class_name: str, split: str, size: int, sha256: str) -> None:
    self.first.setdefault(split, (path, class_name, split, size, sha256))
    self._csv.writerow((path, class_name, split, size, sha256))

  def text(self) -> Iterator[str]:
    """The manifest's text, a block at a time."""
    self._file.flush()
    self._file.seek(0)
    while True:
      block = self._file.read(2**20)
      if not block:
        return
      yield block

  def close(self) -> None:
    self._file.close()


def _row(*values) -> bytes:
  return '\t'.join(str(v) for v in values).encode('utf-8')


def _example(image: np.ndarray, label) -> bytes:
  return int(label).to_bytes(4, 'big') + image.tobytes()


class _Hash:
  """SHA-256 and byte count of what a reader read."""

  def __init__(self):
    self._sha, self.size = hashlib.sha256(), 0

  def update(self, block: bytes) -> None:
    self._sha.update(block)
    self.size += len(block)

  def hexdigest(self) -> str:
    return self._sha.hexdigest()


def _changed(where: str) -> MnistDataError:
  return MnistDataError(f'{where}: changed while it was being read; run again')


class PictureSource:
  """A folder of pictures: a data set (list_dataset) or, unlabelled, new pictures to label."""

  def __init__(self, folder: str, unlabelled: bool = False):
    self.folder = folder
    listing = (
      image_folders.list_unlabelled(folder) if unlabelled else image_folders.list_dataset(folder)
    )
    self.class_names: Tuple[str, ...] = listing.class_names
    self.splits = listing.splits
    self.layout = listing.layout

  def _class(self, label: int) -> str:
    return self.class_names[label] if label >= 0 else ''

  def check(
    self, split: str, chunk: int, each: Each, manifest: Manifest, limit: Optional[int] = None
  ) -> SplitCheck:
    identity = Identity(limit)
    for part in image_folders.read_chunks(self.folder, self.splits[split], chunk):
      each(part.images, part.labels)
      for (path, size, sha), label in zip(part.rows, part.labels, strict=True):
        identity.update(_row(path, size, sha))
        manifest.add(path, self._class(int(label)), split, size, sha)
    return SplitCheck(identity.count, identity.hexdigest())

  def read(
    self, split: str, chunk: int, limit: Optional[int], expected: str
  ) -> Iterator[Tuple[np.ndarray, np.ndarray, List[str]]]:
    """(images, labels, relative paths) chunks of the split's first `limit` pictures."""
    identity = Identity()
    for part in image_folders.read_chunks(self.folder, self.splits[split], chunk, limit):
      for path, size, sha in part.rows:
        identity.update(_row(path, size, sha))
      yield part.images, part.labels, part.files
    if identity.hexdigest() != expected:
      raise _changed(self.folder)


class CsvSource:
  """train.csv and test.csv (components/lib/csv_files.py); the class names are known once the
  training split was checked (classes.txt, else its largest label)."""

  def __init__(self, folder: str):
    self.folder = folder
    self.given = csv_files.read_class_names(folder)
    self.class_names: Tuple[str, ...] = self.given or ()
    self.splits: Dict[str, list] = {split: [] for split in csv_files.CSV_FILES}
    self.layout = 'csv'

  def check(
    self, split: str, chunk: int, each: Each, manifest: Manifest, limit: Optional[int] = None
  ) -> SplitCheck:
    if split == EVAL_SPLIT and not self.class_names:
      raise ValueError('check the training split first: it names the classes')
    whole, identity = _Hash(), Identity(limit)
    counts = np.zeros(datasets.MAX_CLASSES, np.int64)
    classes = len(self.class_names) or None
    for images, labels in csv_files.read_rows(self.folder, split, chunk, classes, None, whole):
      each(images, labels)
      counts += np.bincount(labels, minlength=datasets.MAX_CLASSES)[: datasets.MAX_CLASSES]
      for image, label in zip(images, labels, strict=True):
        identity.update(_example(image, label))
    if split == TRAIN_SPLIT:
      self.class_names = csv_files.class_names_for(counts, self.given)
    manifest.add(csv_files.CSV_FILES[split], '', split, whole.size, whole.hexdigest())
    return SplitCheck(identity.count, identity.hexdigest())

  def read(
    self, split: str, chunk: int, limit: Optional[int], expected: str
  ) -> Iterator[Tuple[np.ndarray, np.ndarray, List[str]]]:
    identity = Identity()
    classes = len(self.class_names)
    for images, labels in csv_files.read_rows(self.folder, split, chunk, classes, limit):
      for image, label in zip(images, labels, strict=True):
        identity.update(_example(image, label))
      yield images, labels, []
    if identity.hexdigest() != expected:
      raise _changed(f'{self.folder}/{csv_files.CSV_FILES[split]}')


def open_source(dataset: datasets.Dataset, folder: str, unlabelled: bool = False):
  """The source of a data set whose classes come from the data, or of new pictures."""
  if unlabelled or dataset.kind == datasets.IMAGES_KIND:
    return PictureSource(folder, unlabelled)
  if dataset.kind == datasets.CSV_KIND:
    return CsvSource(folder)
  raise ValueError(f'--dataset {dataset.name} is read by components/lib/idx.py')
