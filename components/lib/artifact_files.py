"""Reading the files inside an artifact, on any filesystem, and the records our components leave
there (components/lib/names.py names them). Local paths are read with plain Python; gs:// and
s3:// through TensorFlow's filesystems, imported only for those, so that reading a local run
(`mnist-tfx inspect`) never loads TensorFlow. Every call on an object store, each read of an
open object included, ends by its deadline (object_storage.within_deadline)."""

import glob as local_glob
import io
import json
import os
from typing import IO, Any, Callable, Dict, List, Optional, Tuple, TypeVar, cast

import numpy as np

from components.lib import datasets, names
from components.lib.local_files import open_regular
from components.lib.object_storage import enable_for, within_deadline
from trainer_module.features import HISTORY_FILE

T = TypeVar('T')


def is_local(uri: str) -> bool:
  return '://' not in uri


def join(uri: str, *parts: str) -> str:
  return os.path.join(uri, *parts) if is_local(uri) else '/'.join([uri.rstrip('/'), *parts])


def _gfile():
  """TensorFlow's file API, for an object store; deferred: TensorFlow takes seconds to import."""
  import tensorflow as tf

  return tf.io.gfile


def _remote(path: str, call: Callable[[Any], T]) -> T:
  """call(tf.io.gfile) on an object store: s3:// enabled and TensorFlow imported first, then
  the call itself bounded by its deadline."""
  enable_for(path)
  gfile = _gfile()
  return within_deadline(lambda: call(gfile), path)


def exists(path: str) -> bool:
  if is_local(path):
    return os.path.exists(path)
  return _remote(path, lambda gfile: gfile.exists(path))


def isdir(path: str) -> bool:
  if is_local(path):
    return os.path.isdir(path)
  return _remote(path, lambda gfile: gfile.isdir(path))


def listdir(path: str) -> List[str]:
  """The names in a folder (an object store's folders come without their trailing '/')."""
  if is_local(path):
    return os.listdir(path)
  return [name.rstrip('/') for name in _remote(path, lambda gfile: gfile.listdir(path))]


class _BoundedObject:
  """An object opened on an object store whose every read ends by the deadline."""

  def __init__(self, handle: Any, path: str):
    self._handle, self._path = handle, path

  def read(self, n: int = -1) -> bytes:
    return within_deadline(lambda: self._handle.read(n), self._path)

  def close(self) -> None:
    self._handle.close()

  def __enter__(self) -> '_BoundedObject':
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()

  def __getattr__(self, name: str) -> Any:
    return getattr(self._handle, name)


def open_binary(path: str) -> IO[bytes]:
  """A local regular file (a FIFO would block the reader, a device never end: refused with
  NotRegularFileError), or an object through TensorFlow's filesystems, opened for reading."""
  if is_local(path):
    return open_regular(path)
  handle = _remote(path, lambda gfile: gfile.GFile(path, 'rb'))
  return cast(IO[bytes], _BoundedObject(handle, path))


def glob(pattern: str) -> List[str]:
  if is_local(pattern):
    return local_glob.glob(pattern)
  return _remote(pattern, lambda gfile: gfile.glob(pattern))


def read_text(path: str) -> Optional[str]:
  """The file's text, or None when there is no such file."""
  if not exists(path):
    return None
  with open_binary(path) as f:
    return f.read().decode()


def read_json(path: str) -> Any:
  text = read_text(path)
  return None if text is None else json.loads(text)


def read_serving_result(blessing_uri: Optional[str]) -> Optional[Dict[str, Any]]:
  """What a ServingCheck recorded in its InfraBlessing (the probe's numbers, the verdict)."""
  return read_json(join(blessing_uri, names.SERVING_RESULT_FILE)) if blessing_uri else None


def read_answers(blessing_uri: Optional[str]) -> Optional[Tuple[np.ndarray, np.ndarray]]:
  """(labels, probabilities) of the eval split as `classify` answered them in a ServingCheck, in
  the split's order, or None when it kept none."""
  path = join(blessing_uri, names.ANSWERS_FILE) if blessing_uri else None
  if path is None or not exists(path):
    return None
  with open_binary(path) as f, np.load(io.BytesIO(f.read())) as answers:
    return answers['labels'], answers['probabilities']


def read_history(model_run_uri: Optional[str]) -> Optional[Dict[str, List[float]]]:
  """The Trainer's per-epoch loss and accuracy (its ModelRun's history)."""
  return read_json(join(model_run_uri, HISTORY_FILE)) if model_run_uri else None


def read_image_stats(examples_uri: str) -> Optional[Dict[str, Any]]:
  """What the ExampleGen recorded of the data: per split label counts, mean images, histogram."""
  return read_json(join(examples_uri, names.IMAGE_STATS_FILE))


def data_class_names(examples) -> Optional[List[str]]:
  """The class names an ExampleGen recorded on an Examples artifact (a TFX artifact: its custom
  property, else its image_stats.json) when its data set brings its own classes (images, csv);
  None for the IDX sets, whose model has MNIST's 10 outputs whatever their names."""
  dataset = examples.get_string_custom_property(names.DATASET)
  recorded = examples.get_string_custom_property(names.CLASS_NAMES)
  found = json.loads(recorded) if recorded else None
  if not dataset or found is None:
    try:
      stats = read_image_stats(examples.uri) or {}
    except Exception:  # noqa: BLE001  # any filesystem's error: no record, MNIST's 10 classes
      stats = {}
    dataset, found = stats.get(names.DATASET), stats.get(names.CLASS_NAMES)
  if not dataset or dataset not in datasets.DATASETS or not found:
    return None
  return [str(n) for n in found] if datasets.get(dataset).classes_from_data else None
