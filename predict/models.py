"""Which model answers, and how: a pushed version found from --model (a version dir, a serving
dir, or a version number of the output dir), its `classify` signature, the names of its classes
(its own `class_names` output, else its lineage in the output dir's ML Metadata store), how its
pictures are prepared (the data set it was trained on decides: predict/pictures.py), and the
answers for a batch of images. TensorFlow loads the model, so this module is what makes
`predict` cost TensorFlow's import."""

import json
import os
from typing import Iterator, List, Optional, Tuple

import numpy as np
import tensorflow as tf

from components.lib import (
  artifact_files,
  datasets,
  local_files,
  mlmd,
  names,
  object_storage,
  serving_dir,
)
from inspection import runs
from pipeline import store as store_lib
from pipeline.paths import DEFAULT_OUTPUT_DIR, LocalPaths
from predict import pictures
from trainer_module.export import CLASS_NAMES_OUTPUT
from trainer_module.features import NUM_CLASSES
from trainer_module.tf_serving import CLASSIFY_SIGNATURE

DIGITS = [str(i) for i in range(NUM_CLASSES)]
# TensorFlow's own lines around an error's message: never the message.
TF_BOILERPLATE = ('Graph execution error:', 'Detected at node', '<stack traces unavailable>', '[[')


class ModelError(Exception):
  """No usable model; the message is one line."""


class StoreUnreachable(ModelError):
  """The object store behind a remote --model does not answer (so it cannot refuse either)."""


def _newest(serving: str) -> Tuple[str, str]:
  if not artifact_files.isdir(serving):
    raise ModelError(f'{serving}: no such model directory')
  found = serving_dir.newest_servable(serving)
  if found is None:
    raise ModelError(
      f'{serving}: no model version in it (no numbered folder with '
      f'{serving_dir.SAVED_MODEL_FILE}); run the pipeline first, or pass --model'
    )
  return found


def resolve_model(model: Optional[str], output_dir: str = DEFAULT_OUTPUT_DIR) -> Tuple[str, str]:
  """(version dir, version) for --model: a version dir (it has saved_model.pb); a serving dir
  (its newest version, as TF Serving picks); or a version number under <output-dir>/serving;
  by default the newest version there. The version is the dir's name ('' when a model dir
  outside a serving dir is not named by a number)."""
  serving = LocalPaths.under(output_dir).serving_dir
  if model is None:
    if not os.path.isdir(serving):
      raise ModelError(
        f'{serving}: no such directory: nothing pushed there yet '
        '(run the pipeline, or pass --model or --output-dir)'
      )
    return _newest(serving)
  if not artifact_files.is_local(model):
    # Asked first, each wait bounded: else a dead, silent or refusing store reads as "no such
    # model", or hangs.
    problem = object_storage.problem(model)
    if problem:
      raise StoreUnreachable(f'{model}: {problem}')
    try:
      return _resolve_path(model, serving)
    except object_storage.DeadlineExceeded as e:
      raise StoreUnreachable(f'{model}: {e}') from None
  return _resolve_path(model, serving)


def _resolve_path(model: str, serving: str) -> Tuple[str, str]:
  """resolve_model for a --model that is given."""
  if (
    model.rsplit('/', 1)[-1] == serving_dir.SAVED_MODEL_FILE
    and artifact_files.exists(model)
    and not artifact_files.isdir(model)
  ):
    model = model.rsplit('/', 1)[0] if '/' in model else '.'  # the file itself: its dir
  if artifact_files.isdir(model):
    model = os.path.abspath(model) if artifact_files.is_local(model) else model
    if artifact_files.exists(artifact_files.join(model, serving_dir.SAVED_MODEL_FILE)):
      name = model.rstrip('/').rsplit('/', 1)[-1]
      return model, name if serving_dir.is_version_name(name) else ''
    return _newest(model)
  if artifact_files.exists(model):
    raise ModelError(f'{model}: not a model directory (a SavedModel version dir or a serving dir)')
  if serving_dir.is_version_name(model):
    version_dir = serving_dir.version_dir(serving, int(model))
    if os.path.exists(os.path.join(version_dir, serving_dir.SAVED_MODEL_FILE)):
      return version_dir, model
    raise ModelError(
      f'version {model}: not in {serving} (no {model}/{serving_dir.SAVED_MODEL_FILE} '
      'there); pass --output-dir, or the model directory'
    )
  raise ModelError(f'{model}: no such model directory')


def first_line(error: BaseException) -> str:
  """The first line that says something: not TensorFlow's 'Graph execution error:', its
  'Detected at node …' and stack-trace lines, or its '[[{{node …}}]]' trailer."""
  text = getattr(error, 'message', None) or str(error)
  for line in text.splitlines():
    line = line.strip()
    if line and not line.startswith(TF_BOILERPLATE):
      return line
  return type(error).__name__


def _check_regular_files(version_dir: str) -> None:
  """ModelError naming the first file of a local model that is not a regular file: TensorFlow
  would block on a FIFO (a saved_model.pb or a variables shard) forever, or read a device."""
  for folder, _, files in os.walk(version_dir):
    for name in files:
      path = os.path.join(folder, name)
      try:
        local_files.check_regular(path)
      except OSError as e:  # NotRegularFileError, or a broken link
        raise ModelError(f'{path}: {e.strerror or e}') from None


def load_classify(version_dir: str):
  """The SavedModel's `classify` signature; ModelError if it cannot be loaded or has none. A
  model on an object store is loaded within the deadline of one object-store call."""
  try:
    if artifact_files.is_local(version_dir):
      _check_regular_files(version_dir)
      loaded = tf.saved_model.load(version_dir)
    else:
      loaded = object_storage.within_deadline(lambda: tf.saved_model.load(version_dir), version_dir)
  except ModelError:
    raise
  except object_storage.DeadlineExceeded as e:
    raise StoreUnreachable(f'{version_dir}: {e}') from None
  except Exception as e:  # noqa: BLE001  # TensorFlow raises many kinds: each is one line
    raise ModelError(f'{version_dir}: cannot load the SavedModel ({first_line(e)})') from None
  if CLASSIFY_SIGNATURE not in loaded.signatures:
    raise ModelError(
      f'{version_dir}: the model has no {CLASSIFY_SIGNATURE!r} signature '
      f'(it has {sorted(loaded.signatures)})'
    )
  return loaded.signatures[CLASSIFY_SIGNATURE]


def refusal(error: BaseException) -> str:
  """The signature's own words from an InvalidArgumentError: 'image pixels must be in [0, 1]
  (…); got values from 0 to 255', without TensorFlow's 'Graph execution error', node names and
  'assertion failed: [...]'."""
  text = getattr(error, 'message', None) or str(error)
  marker = 'assertion failed: ['
  if marker in text:
    line = text[text.index(marker) + len(marker) :].splitlines()[0]
    return line[: line.rindex(']')] if ']' in line else line
  return first_line(error)


def trained_on(version_dir: str) -> Tuple[Optional[str], Optional[List[str]]]:
  """(data set name, class names) of the Examples a pushed version's Trainer read, from its
  lineage: the version's provenance names the Model; the store of the output dir that serves it
  names its Trainer and that Trainer's input. (None, None) when the record, the store or the
  properties are not there."""
  paths = LocalPaths.of_version_dir(version_dir)
  model_uri = serving_dir.provenance(version_dir).get(serving_dir.MODEL_URI)
  if paths is None or not model_uri:
    return None, None
  try:
    store = store_lib.open_store(store_lib.sqlite_config(paths.metadata_path, read_only=True))
    models = store.get_artifacts_by_uri(model_uri)
    events = store.get_events_by_artifact_ids([m.id for m in models]) if models else []
    trainers = [e.execution_id for e in events if e.type in runs.OUTPUT_EVENTS]
    for examples in runs.artifacts_of(store, trainers[0], outputs=False) if trainers else []:
      if runs.type_name(store, examples) == 'Examples':
        found = json.loads(mlmd.custom_value(examples, names.CLASS_NAMES) or 'null')
        named = [str(n) for n in found] if isinstance(found, list) else None
        return mlmd.custom_value(examples, names.DATASET), named
  except Exception:  # noqa: BLE001  # names are a nicety; the answer stands without them
    return None, None
  return None, None


def class_count(signature) -> int:
  """K: the width of the signature's `probabilities`."""
  width = signature.structured_outputs['probabilities'].shape[-1]
  return int(width) if width is not None else NUM_CLASSES


def answers_names(signature) -> bool:
  """Whether the model answers each class's name itself (a data set with its own classes)."""
  return CLASS_NAMES_OUTPUT in signature.structured_outputs


def class_names(version_dir: str, signature=None) -> List[str]:
  """The names of the model's classes: its lineage's (the data set's, when they are as many as
  the model's outputs), else the indices (the digits for a 10-class model)."""
  count = class_count(signature) if signature is not None else NUM_CLASSES
  _, found = trained_on(version_dir)
  if found and len(found) == count:
    return found
  return [str(i) for i in range(count)]


def picture_rule(version_dir: str, signature) -> str:
  """How pictures are prepared for this model (predict/pictures.py): as its training data was.
  The data set in its lineage decides; without one, a model that answers class names was
  trained on pictures or a CSV (`whole`), any other on MNIST-style digits (`digit`)."""
  dataset, _ = trained_on(version_dir)
  if dataset in datasets.DATASETS:
    return pictures.WHOLE if datasets.get(dataset).classes_from_data else pictures.DIGIT
  return pictures.WHOLE if answers_names(signature) else pictures.DIGIT


def answer(signature, images: np.ndarray) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
  """(classes [N], probabilities [N, classes], the classes' names [N] when the model answers
  them, else None) as numpy; InvalidArgumentError if refused."""
  outputs = signature(image=tf.constant(images, tf.float32))
  named = outputs.get(CLASS_NAMES_OUTPUT)
  return (
    outputs['classes'].numpy(),
    outputs['probabilities'].numpy(),
    None if named is None else named.numpy(),
  )


def classify(signature, images: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
  """(classes [N], probabilities [N, classes]) as numpy; InvalidArgumentError if refused."""
  classes, probabilities, _ = answer(signature, images)
  return classes, probabilities


def predict_files(
  signature,
  paths: List[str],
  class_names_: Optional[List[str]] = None,
  batch_size: Optional[int] = None,
  rule: str = pictures.DIGIT,
) -> Iterator[Tuple[str, dict]]:
  """Yields ('answer', dict) per image and ('error', dict) per input (or rest of an input) that
  gets none. Pictures are prepared by `rule`; an .npy is answered pictures.BATCH images at a
  time, so memory is bounded whatever its length; a batch the model refuses ends that file's
  answers with one error. A class is named by the model's own answer, else by `class_names_`."""
  labels = class_names_ or DIGITS
  batch_size = batch_size or pictures.BATCH
  for path in paths:
    try:
      batches, batch = pictures.load_batches(path, batch_size, rule)
    except pictures.InputError as e:
      yield 'error', {'file': path, 'error': str(e)}
      continue
    except Exception as e:  # noqa: BLE001  # still one line, and on to the next input
      yield (
        'error',
        {'file': path, 'error': f'cannot prepare it ({type(e).__name__}: {first_line(e)})'},
      )
      continue
    first = 0
    for images in batches:  # an .npy of any length in bounded memory, one batch at a time
      try:
        classes, probabilities, named = answer(signature, images)
      except tf.errors.InvalidArgumentError as e:
        where = f' (images {first}-{first + len(images) - 1})' if batch and first else ''
        yield 'error', {'file': path, 'error': f'refused by the model{where}: {refusal(e)}'}
        break
      except tf.errors.OpError as e:
        yield 'error', {'file': path, 'error': f'the model failed: {first_line(e)}'}
        break
      for i, (label, probs) in enumerate(zip(classes, probabilities, strict=True), start=first):
        name = bytes(named[i - first]).decode() if named is not None else None
        yield (
          'answer',
          {
            'file': path,
            'index': i if batch else None,
            'class': int(label),
            'class_name': name or (labels[int(label)] if int(label) < len(labels) else str(label)),
            'probability': float(probs[label]),
            'probabilities': [float(p) for p in probs],
          },
        )
      first += len(images)
