"""MnistExampleGen: validated MNIST IDX files → GZIP TFRecords of tf.train.Example, with Beam.

A FileBasedExampleGen with a custom Beam executor, so TFX's driver fingerprints the
input files (caching, span/version) and the Kubeflow V2 runner compiles it as usual.
Splits are MNIST's own: `train` = the 60k training set, `eval` = the 10k test set.

The data set (--dataset: mnist, fashion-mnist, idx) travels in custom_config; the Examples
artifact names it and its files' digests (custom properties), and carries `image_stats.json`:
per split, the label counts, the mean image of each class and the pixel-intensity histogram
(the run report shows them; TFDV's statistics of raw image bytes cannot).
"""

import json
import os
from typing import Any, Dict, Iterator, List, Optional, Tuple

import apache_beam as beam
import numpy as np
import tensorflow as tf
from absl import logging
from google.protobuf import json_format, struct_pb2
from tfx import types
from tfx.components.example_gen import base_example_gen_executor, write_split
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.components.util import examples_utils
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs

from components.lib import datasets, idx, names
from trainer_module.features import EVAL_SPLIT, IMAGE_KEY, IMAGE_SIZE, LABEL_KEY, TRAIN_SPLIT

# Output split name → MNIST file prefix. The pattern matches the images and labels file.
SPLIT_PREFIXES = {TRAIN_SPLIT: 'train', EVAL_SPLIT: 't10k'}
LIMIT_KEYS = {TRAIN_SPLIT: names.TRAIN_EXAMPLES, EVAL_SPLIT: names.EVAL_EXAMPLES}
HISTOGRAM_BINS = 32  # pixel-intensity histogram: 32 bins of 8 values over 0-255
IMAGE_PIXELS = IMAGE_SIZE * IMAGE_SIZE


def _pattern(prefix: str) -> str:
  return f'{prefix}-*-ubyte.gz'


def _prefix_of(pattern: str) -> str:
  prefix = pattern.split('-', 1)[0]
  if prefix not in idx.FILES:
    raise ValueError(f'split pattern {pattern!r} does not name an MNIST file set')
  return prefix


def sha256_property(file_name: str) -> str:
  """Custom-property name for a source file's decompressed digest, e.g. sha256_train_images."""
  return 'sha256_' + '_'.join(file_name.split('-')[:2])


def _custom(exec_properties: Dict[str, Any]) -> Dict[str, Any]:
  raw = exec_properties.get(names.CUSTOM_CONFIG)
  if not raw:
    return {}
  config = example_gen_pb2.CustomConfig()
  if isinstance(raw, str):  # exec properties hold it as JSON
    json_format.Parse(raw, config)
  else:
    config.CopyFrom(raw)
  if not config.HasField('custom_config'):
    return {}
  struct = struct_pb2.Struct()
  config.custom_config.Unpack(struct)
  return dict(struct.items())


def _limits(exec_properties: Dict[str, Any]) -> Dict[str, int]:
  return {
    k: int(v)
    for k, v in _custom(exec_properties).items()
    if k in LIMIT_KEYS.values() and v is not None and int(v) > 0
  }


def dataset_of(exec_properties: Dict[str, Any]) -> datasets.Dataset:
  return datasets.get(_custom(exec_properties).get(names.DATASET) or datasets.DEFAULT)


class ImageStats:
  """One split's statistics for the report, gathered chunk by chunk (add) so that memory does
  not grow with the split: label counts, the mean image of each class (784 values 0-255, one
  decimal) and the pixel-intensity histogram (HISTOGRAM_BINS bins)."""

  def __init__(self, num_classes: int = 10):
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


def image_stats(images, labels, num_classes: int = 10) -> Dict[str, Any]:
  """ImageStats of one split held whole in memory."""
  stats = ImageStats(num_classes)
  stats.add(images, labels)
  return stats.result()


def to_example(image, label) -> tf.train.Example:
  return tf.train.Example(
    features=tf.train.Features(
      feature={
        IMAGE_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[image.tobytes()])),
        LABEL_KEY: tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
      }
    )
  )


# Examples per output file, and per read from the IDX stream. Each split is read once, in order,
# from its two .gz files inflated side by side (idx.read_chunks), and written chunk by chunk
# by TensorFlow's C++ TFRecordWriter, each chunk whole to its own numbered file: memory is one
# chunk whatever the split's size, and the files, read in name order, hold the split in its own
# order. (TFX's own WriteSplit reshuffles every record and writes it through Beam's Python GZIP
# sink, 3x a bare TFRecordWriter loop.) Beam gets one element per split, so a runner with more than
# one worker writes the two splits side by side.
CHUNK_EXAMPLES = 10000


def chunks(count: int, size: int):
  """[start, end) bounds covering range(count), `size` at most each."""
  return [(start, min(start + size, count)) for start in range(0, count, size)]


def _examples(
  split_name: str, input_base: str, dataset: str, count: Optional[int]
) -> Iterator[Tuple[int, int, List[tf.train.Example]]]:
  """(chunk index, chunks in all, the chunk's Examples) of the split's first `count` examples
  (None: all, and 0 chunks in all)."""
  prefix = SPLIT_PREFIXES[split_name]
  files = len(chunks(count, CHUNK_EXAMPLES)) if count is not None else 0
  for index, (images, labels) in enumerate(
    idx.read_chunks(input_base, prefix, CHUNK_EXAMPLES, limit=count, dataset=datasets.get(dataset))
  ):
    examples = [to_example(image, label) for image, label in zip(images, labels, strict=True)]
    yield index, files, examples


def _read_split(
  split_name: str, input_base: str, dataset: str, count: Optional[int]
) -> Iterator[tf.train.Example]:
  for _, _, examples in _examples(split_name, input_base, dataset, count):
    yield from examples


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _MnistToExample(
  pipeline: beam.Pipeline, exec_properties: Dict[str, Any], split_pattern: str
) -> beam.pvalue.PCollection:
  """Reads one split's IDX pair inside a worker as a stream (the data never enters the job
  graph: only the split's name does)."""
  prefix = _prefix_of(split_pattern)
  split_name = next(s for s, p in SPLIT_PREFIXES.items() if p == prefix)
  limit = _limits(exec_properties).get(LIMIT_KEYS[split_name])
  input_base, dataset = exec_properties['input_base'], dataset_of(exec_properties).name
  return (
    pipeline
    | 'Split' >> beam.Create([split_name])
    | 'ReadIdx' >> beam.FlatMap(_read_split, input_base, dataset, limit)
  )


DATA_FILE = 'data_tfrecord'  # as TFX's ExampleGen names its files: data_tfrecord-00000-of-00006.gz


def _write_split(split_name: str, split_dir: str, input_base: str, dataset: str, count: int) -> int:
  """Writes the split's first `count` examples, chunk i whole to file number i; returns how many
  it wrote. A runner that retries the split writes the same files again, whole."""
  tf.io.gfile.makedirs(split_dir)
  written = 0
  for index, files, examples in _examples(split_name, input_base, dataset, count):
    path = f'{split_dir.rstrip("/")}/{DATA_FILE}-{index:05d}-of-{files:05d}.gz'
    with tf.io.TFRecordWriter(path, options='GZIP') as writer:
      for example in examples:
        writer.write(example.SerializeToString())
    written += len(examples)
  return written


def write_records(
  data_dir: str, path: str, prefix: str = 'train', start: int = 0, count: Optional[int] = None
) -> str:
  """Examples [start, start + count) of one split of an IDX folder, in order, as one GZIP TFRecord
  file written as the ExampleGen writes them: for benchmarks and tests that train without a run."""
  split = idx.load_split(data_dir, prefix)
  end = len(split.labels) if count is None else start + count
  tf.io.gfile.makedirs(os.path.dirname(path))
  with tf.io.TFRecordWriter(path, options='GZIP') as writer:
    for i in range(start, end):
      writer.write(to_example(split.images[i], split.labels[i]).SerializeToString())
  return path


def _write_split_of(
  split_name: str, split_dirs: Dict[str, str], input_base: str, dataset: str, counts: Dict[str, int]
) -> int:
  return _write_split(split_name, split_dirs[split_name], input_base, dataset, counts[split_name])


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
  """Validates all four files first (one clear error, nothing written), then converts."""

  def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
    """The base class's hook (examples as a PCollection, for TFX's GenerateExamplesByBeam); Do
    below writes the chunks itself instead."""
    return _MnistToExample

  def _write_splits(
    self, examples: types.Artifact, counts: Dict[str, int], input_base: str, dataset: str
  ) -> None:
    split_dirs = {name: artifact_utils.get_split_uri([examples], name) for name in SPLIT_PREFIXES}
    with self._make_beam_pipeline() as pipeline:
      _ = (
        pipeline
        | 'Splits' >> beam.Create(list(SPLIT_PREFIXES))
        | 'Spread' >> beam.Reshuffle()
        | 'Write' >> beam.Map(_write_split_of, split_dirs, input_base, dataset, counts)
      )

  def Do(
    self,
    input_dict: Dict[str, List[types.Artifact]],
    output_dict: Dict[str, List[types.Artifact]],
    exec_properties: Dict[str, Any],
  ) -> None:
    input_base = exec_properties['input_base']
    dataset = dataset_of(exec_properties)
    limits = _limits(exec_properties)
    # First every file is read through once, as a stream: all four checked (digests included)
    # before anything is written, and each split's statistics over the examples it will hold.
    checks, stats, seen = {}, {}, {}
    for split_name, prefix in SPLIT_PREFIXES.items():
      limit = limits.get(LIMIT_KEYS[split_name])
      stats[split_name], seen[split_name] = ImageStats(), 0

      def gather(images, labels, split_name=split_name, limit=limit):
        keep = len(labels) if not limit else max(0, min(len(labels), limit - seen[split_name]))
        if keep:
          stats[split_name].add(images[:keep], labels[:keep])
        seen[split_name] += len(labels)

      checks[prefix] = idx.check_split(
        input_base, prefix, dataset, each=gather, chunk=CHUNK_EXAMPLES
      )
    counts = {}
    for split_name, prefix in SPLIT_PREFIXES.items():
      full = checks[prefix].count
      limit = limits.get(LIMIT_KEYS[split_name])
      counts[split_name] = min(limit, full) if limit else full
    examples = artifact_utils.get_single_instance(output_dict['examples'])
    examples.split_names = artifact_utils.encode_split_names(list(SPLIT_PREFIXES))
    self._write_splits(examples, counts, input_base, dataset.name)
    # What TFX's ExampleGen records of its output (base_example_gen_executor.Do).
    payload_format = exec_properties.get(standard_component_specs.OUTPUT_DATA_FORMAT_KEY)
    if payload_format:
      examples_utils.set_payload_format(examples, payload_format)
    file_format = exec_properties.get(standard_component_specs.OUTPUT_FILE_FORMAT_KEY)
    if file_format:
      examples_utils.set_file_format(examples, write_split.to_file_format_str(file_format))
    for check in checks.values():
      for file_name, digest in check.sha256.items():
        examples.set_string_custom_property(sha256_property(file_name), digest)
    examples.set_string_custom_property('source_uri', input_base)
    examples.set_string_custom_property(names.DATASET, dataset.name)
    examples.set_string_custom_property(names.CLASS_NAMES, json.dumps(list(dataset.class_names)))
    for split_name, n in counts.items():
      examples.set_int_custom_property(f'{split_name}_examples', n)
    with tf.io.gfile.GFile(f'{examples.uri.rstrip("/")}/{names.IMAGE_STATS_FILE}', 'w') as f:
      json.dump(
        {
          names.DATASET: dataset.name,
          names.CLASS_NAMES: list(dataset.class_names),
          'splits': {name: split.result() for name, split in stats.items()},
        },
        f,
      )
    # The local runner's console shows this on the component's line.
    logging.info(names.EXAMPLE_COUNTS_LOG, ', '.join(f'{s} {n}' for s, n in counts.items()))


def create_example_gen(
  input_base,
  train_examples: Optional[int] = None,
  eval_examples: Optional[int] = None,
  dataset: str = datasets.DEFAULT,
) -> FileBasedExampleGen:
  """MNIST ExampleGen reading the four IDX .gz files under `input_base` (a dir or gs:// URI),
  checked as `dataset`'s files (components/lib/datasets.py)."""
  dataset = datasets.get(dataset).name
  for name, value in ((names.TRAIN_EXAMPLES, train_examples), (names.EVAL_EXAMPLES, eval_examples)):
    if value is not None and value < 1:
      raise ValueError(f'{name} must be >= 1, got {value}')
  input_config = example_gen_pb2.Input(
    splits=[
      example_gen_pb2.Input.Split(name=split, pattern=_pattern(prefix))
      for split, prefix in SPLIT_PREFIXES.items()
    ]
  )
  limits = struct_pb2.Struct()
  if train_examples:
    limits[names.TRAIN_EXAMPLES] = train_examples
  if eval_examples:
    limits[names.EVAL_EXAMPLES] = eval_examples
  if dataset != datasets.DEFAULT:  # MNIST's pipelines compile (and cache) exactly as before
    limits[names.DATASET] = dataset
  custom_config = example_gen_pb2.CustomConfig()
  custom_config.custom_config.Pack(limits)
  return FileBasedExampleGen(
    input_base=input_base,
    input_config=input_config,
    custom_config=custom_config,
    output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
    custom_executor_spec=executor_spec.BeamExecutorSpec(Executor),
  ).with_id(names.EXAMPLE_GEN)
