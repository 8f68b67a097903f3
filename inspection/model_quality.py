"""The model's quality on the eval split, and the splits themselves, read from a run's
artifacts on any filesystem (no ML Metadata needed, so a Kubeflow task holding only the artifacts
uses it too: kubeflow/run_results.py). TensorFlow reads the TFRecords and, where the ServingCheck
kept no answers, runs the model: this module is what makes a report cost TensorFlow's import."""

import tempfile
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np
import tensorflow as tf

from components.lib import artifact_files
from components.lib.object_storage import enable_for
from inspection import quality
from trainer_module import data
from trainer_module.features import (
  EVAL_SPLIT,
  IMAGE_KEY,
  IMAGE_SIZE,
  LABEL_KEY,
  NUM_CLASSES,
  TRAIN_SPLIT,
)
from trainer_module.tf_serving import CLASSIFY_SIGNATURE

SERVING_MODEL_DIR = 'Format-Serving'  # TFX's: the exported SavedModel inside a Model artifact


def _split_batches(
  examples_uri: str, split: str, limit: Optional[int] = None, batch: int = 2048
) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
  """One split of an Examples artifact, in its order, as (uint8 images [n, 28, 28], int labels
  [n]) batches (the first `limit` examples only, when given); from any filesystem."""
  files = sorted(tf.io.gfile.glob(f'{examples_uri.rstrip("/")}/Split-{split}/*'))  # any filesystem
  records = tf.data.TFRecordDataset(files, compression_type='GZIP')
  if limit is not None:
    records = records.take(limit)
  for records_batch in records.batch(batch):
    features = tf.io.parse_example(records_batch, data.FEATURE_SPEC)
    yield (
      tf.io.decode_raw(features[IMAGE_KEY], tf.uint8).numpy().reshape(-1, IMAGE_SIZE, IMAGE_SIZE),
      features[LABEL_KEY].numpy(),
    )


def read_split(
  examples_uri: str, split: str, limit: Optional[int] = None
) -> Tuple[np.ndarray, np.ndarray]:
  """(uint8 images [N, 28, 28], int labels [N]) of one split of an Examples artifact, or of its
  first `limit` examples: the whole split in memory, so only for small ones (see model_quality)."""
  images, labels = [], []
  for batch_images, batch_labels in _split_batches(examples_uri, split, limit):
    images.append(batch_images)
    labels.append(batch_labels)
  if not images:
    return np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8), np.zeros((0,), np.int64)
  return np.concatenate(images), np.concatenate(labels)


def _load_classify(model_uri: str):
  return tf.saved_model.load(artifact_files.join(model_uri, SERVING_MODEL_DIR)).signatures[
    CLASSIFY_SIGNATURE
  ]


def _classify(classify, images: np.ndarray) -> np.ndarray:
  probabilities = [
    classify(image=tf.constant(images[i : i + 1000] / 255.0, tf.float32))['probabilities'].numpy()
    for i in range(0, len(images), 1000)
  ]
  if probabilities:
    return np.concatenate(probabilities)
  width = classify.structured_outputs['probabilities'].shape[-1]
  return np.zeros((0, int(width or NUM_CLASSES)))


def predict(model_uri: str, images: np.ndarray) -> np.ndarray:
  """The Trainer's model's `classify` probabilities for uint8 images."""
  return _classify(_load_classify(model_uri), images)


def _label_counts(examples_uri: str) -> Tuple[Dict[str, List[int]], int]:
  """(per split the label counts the ExampleGen recorded in image_stats.json, if it did; the
  number of classes it recorded, else MNIST's 10)."""
  stats = artifact_files.read_image_stats(examples_uri) or {}
  splits = stats.get('splits', {})
  counts = {
    split: values['label_counts'] for split, values in splits.items() if 'label_counts' in values
  }
  return counts, len(stats.get('class_names') or []) or NUM_CLASSES


def model_quality(
  examples_uri: str, model_uri: Optional[str], blessing_uri: Optional[str] = None
) -> Dict[str, Any]:
  """Label histograms per split and, with a model, its quality on the eval split.

  Reuses what the run computed where it can: the ExampleGen's label counts (so the train split is
  not read again) and the ServingCheck's `classify` probabilities for the eval split (in
  `blessing_uri`, the run's InfraBlessing), predicting only when those are missing."""
  enable_for(examples_uri, model_uri, blessing_uri)
  result: Dict[str, Any] = {'label_histograms': {}}
  if model_uri and not artifact_files.exists(artifact_files.join(model_uri, SERVING_MODEL_DIR)):
    result['model_missing'] = model_uri  # deleted since the run: the rest of the report stands
    model_uri = None
  recorded, classes = _label_counts(examples_uri)
  for split in (TRAIN_SPLIT, EVAL_SPLIT):
    if split == TRAIN_SPLIT and split in recorded:
      result['label_histograms'][split] = recorded[split]
      continue
    with tempfile.TemporaryFile() as pixels:
      labels, probabilities = _stream_eval(examples_uri, split, model_uri, blessing_uri, pixels)
      result['label_histograms'][split] = quality.label_histogram(labels, classes)
      if probabilities is not None:
        images = _images_on_disk(pixels, len(labels))
        result.update(quality.model_quality(images, labels, probabilities))
  return result


def _stream_eval(
  examples_uri: str, split: str, model_uri: Optional[str], blessing_uri: Optional[str], pixels
) -> Tuple[np.ndarray, Optional[np.ndarray]]:
  """(labels, the model's probabilities or None) of a split, read batch by batch: the images go
  to the file `pixels` (the report shows a few of them), never all into memory. On the eval split
  with a model, the ServingCheck's answers are taken when they answer these very labels, else
  the model is asked batch by batch."""
  answers = artifact_files.read_answers(blessing_uri) if split == EVAL_SPLIT and model_uri else None
  judged = split == EVAL_SPLIT and model_uri is not None
  model = model_uri or ''  # used only when judged
  classify, labels, predicted = None, [], []
  for images, batch_labels in _split_batches(examples_uri, split):
    labels.append(batch_labels)
    if judged:
      pixels.write(images.tobytes())
    if judged and answers is None:
      classify = classify or _load_classify(model)
      predicted.append(_classify(classify, images))
  labels = np.concatenate(labels) if labels else np.zeros((0,), np.int64)
  if not judged or not len(labels):
    return labels, None
  if answers is not None and np.array_equal(answers[0], labels):
    return labels, answers[1]
  if answers is not None:  # a serving check that answered other examples: ask the model
    return labels, predict_from_disk(model, pixels, len(labels))
  return labels, np.concatenate(predicted)


def _images_on_disk(pixels, count: int) -> np.ndarray:
  """The images written to `pixels`, mapped read-only: only those looked at are read."""
  pixels.flush()
  if not count:
    return np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
  return np.memmap(pixels, np.uint8, 'r', shape=(count, IMAGE_SIZE, IMAGE_SIZE))


def predict_from_disk(model_uri: str, pixels, count: int) -> np.ndarray:
  images, classify = _images_on_disk(pixels, count), _load_classify(model_uri)
  return np.concatenate(
    [_classify(classify, np.array(images[i : i + 10000])) for i in range(0, max(count, 1), 10000)]
  )
