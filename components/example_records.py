"""What every ExampleGen of the project writes: tf.train.Examples (the image's 784 bytes, its
label, and for a picture its file), a chunk of them whole to one numbered GZIP TFRecord file, and
per split the statistics the report shows (image_stats.json)."""

from typing import Any, Dict, Iterable, Optional

import numpy as np
import tensorflow as tf

from trainer_module.features import FILE_KEY, IMAGE_KEY, IMAGE_SIZE, LABEL_KEY, NUM_CLASSES

HISTOGRAM_BINS = 32  # pixel-intensity histogram: 32 bins of 8 values over 0-255
IMAGE_PIXELS = IMAGE_SIZE * IMAGE_SIZE
DATA_FILE = 'data_tfrecord'  # as TFX's ExampleGen names its files: data_tfrecord-00000-of-00006.gz
# Examples per output file, and per read from the data: memory is one chunk whatever the split's
# size.
CHUNK_EXAMPLES = 10000


class ImageStats:
  """One split's statistics for the report, gathered chunk by chunk (add) so that memory does
  not grow with the split: label counts, the mean image of each class (784 values 0-255, one
  decimal) and the pixel-intensity histogram (HISTOGRAM_BINS bins)."""

  def __init__(self, num_classes: int = NUM_CLASSES):
    self.num_classes = num_classes
    self.counts = np.zeros(num_classes, np.int64)
    self.sums = np.zeros((num_classes, IMAGE_PIXELS), np.uint64)
    self.histogram = np.zeros(HISTOGRAM_BINS, np.int64)

  def add(self, images, labels) -> None:
    labels = np.asarray(labels, np.int64)
    flat = np.asarray(images).reshape(len(labels), -1)
    self.counts += np.bincount(labels, minlength=self.num_classes)[: self.num_classes]
    for label in np.unique(labels):
      self.sums[label] += flat[labels == label].sum(axis=0, dtype=np.uint64)
    # np.bincount would copy the uint8 pixels into int64 first (seconds for 47M pixels).
    binned = flat.reshape(-1) >> int(np.log2(256 // HISTOGRAM_BINS))
    self.histogram += [np.count_nonzero(binned == b) for b in range(HISTOGRAM_BINS)]

  def result(self) -> Dict[str, Any]:
    means = [
      [round(float(v), 1) for v in self.sums[label] / self.counts[label]]
      if self.counts[label]
      else None
      for label in range(self.num_classes)
    ]
    return {
      'examples': int(self.counts.sum()),
      'label_counts': [int(c) for c in self.counts],
      'mean_images': means,
      'pixel_histogram': [int(h) for h in self.histogram],
    }


def image_stats(images, labels, num_classes: int = NUM_CLASSES) -> Dict[str, Any]:
  """ImageStats of one split held whole in memory."""
  stats = ImageStats(num_classes)
  stats.add(images, labels)
  return stats.result()


def to_example(image, label, file: Optional[str] = None) -> tf.train.Example:
  """The image's raw bytes and its label; a picture's path in its folder as `file`; no label for
  a picture still to be labelled."""
  feature = {IMAGE_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[image.tobytes()]))}
  if label is not None:
    feature[LABEL_KEY] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)]))
  if file is not None:
    feature[FILE_KEY] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[file.encode()]))
  return tf.train.Example(features=tf.train.Features(feature=feature))


def chunks(count: int, size: int):
  """[start, end) bounds covering range(count), `size` at most each."""
  return [(start, min(start + size, count)) for start in range(0, count, size)]


def chunk_path(split_dir: str, index: int, files: int) -> str:
  """Chunk `index`'s file of `files` (0: not known ahead) in a split's folder."""
  return f'{split_dir.rstrip("/")}/{DATA_FILE}-{index:05d}-of-{files:05d}.gz'


def write_chunk(path: str, examples: Iterable[tf.train.Example]) -> int:
  """Writes the examples whole to one GZIP TFRecord file with TensorFlow's C++ writer; returns
  how many."""
  written = 0
  with tf.io.TFRecordWriter(path, options='GZIP') as writer:
    for example in examples:
      writer.write(example.SerializeToString())
      written += 1
  return written
