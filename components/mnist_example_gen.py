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
from typing import Any, Dict, Iterator, List, Optional, Tuple

import apache_beam as beam
from absl import logging
import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from google.protobuf import struct_pb2
from tfx import types
from tfx.components.example_gen import base_example_gen_executor
from tfx.components.example_gen import write_split
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.components.util import examples_utils
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils
from tfx.types import standard_component_specs

from components import datasets
from components import mnist_data
from trainer_module.features import EVAL_SPLIT, IMAGE_KEY, LABEL_KEY, TRAIN_SPLIT

# Output split name → MNIST file prefix. The pattern matches the images and labels file.
SPLIT_PREFIXES = {TRAIN_SPLIT: 'train', EVAL_SPLIT: 't10k'}
LIMIT_KEYS = {TRAIN_SPLIT: 'train_examples', EVAL_SPLIT: 'eval_examples'}
DATASET_KEY = 'dataset'  # in custom_config, and the Examples artifact's custom property
CLASS_NAMES_KEY = 'class_names'  # custom property: JSON list, label i -> name
IMAGE_STATS_FILE = 'image_stats.json'  # in the Examples artifact's folder
HISTOGRAM_BINS = 32  # pixel-intensity histogram: 32 bins of 8 values over 0-255


def _pattern(prefix: str) -> str:
  return f'{prefix}-*-ubyte.gz'


def _prefix_of(pattern: str) -> str:
  prefix = pattern.split('-', 1)[0]
  if prefix not in mnist_data.FILES:
    raise ValueError(f'split pattern {pattern!r} does not name an MNIST file set')
  return prefix


def sha256_property(file_name: str) -> str:
  """Custom-property name for a source file's decompressed digest, e.g. sha256_train_images."""
  return 'sha256_' + '_'.join(file_name.split('-')[:2])


def _custom(exec_properties: Dict[str, Any]) -> Dict[str, Any]:
  raw = exec_properties.get('custom_config')
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
  return {k: int(v) for k, v in _custom(exec_properties).items()
          if k in LIMIT_KEYS.values() and v is not None and int(v) > 0}


def dataset_of(exec_properties: Dict[str, Any]) -> datasets.Dataset:
  return datasets.get(_custom(exec_properties).get(DATASET_KEY) or datasets.DEFAULT)


def image_stats(images, labels, num_classes: int = 10) -> Dict[str, Any]:
  """One split's statistics for the report: label counts, the mean image of each class (784
  values 0-255, one decimal) and the pixel-intensity histogram (HISTOGRAM_BINS bins)."""
  labels = np.asarray(labels, np.int64)
  counts = np.bincount(labels, minlength=num_classes)[:num_classes]
  flat = images.reshape(len(images), -1)
  order = np.argsort(labels, kind='stable')  # one pass per class over contiguous rows
  ends = np.cumsum(counts)
  means = []
  for label in range(num_classes):
    rows = flat[order[ends[label] - counts[label]:ends[label]]]
    means.append([round(float(v), 1) for v in rows.sum(axis=0, dtype=np.uint64) / len(rows)]
                 if len(rows) else None)
  # np.bincount would copy the uint8 pixels into int64 first (seconds for 47M pixels).
  binned = images.reshape(-1) >> int(np.log2(256 // HISTOGRAM_BINS))
  histogram = [np.count_nonzero(binned == b) for b in range(HISTOGRAM_BINS)]
  return {'examples': int(len(labels)), 'label_counts': [int(c) for c in counts],
          'mean_images': means, 'pixel_histogram': [int(h) for h in histogram]}


def _to_example(image, label) -> tf.train.Example:
  return tf.train.Example(features=tf.train.Features(feature={
      IMAGE_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[image.tobytes()])),
      LABEL_KEY: tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
  }))


# Examples per Beam element, and per output file. The records leave the IDX arrays already in
# order, so only the chunks' bounds go through Beam (a Reshuffle of 8 small elements lets a
# distributed runner spread the work), never the 70k records themselves: TFX's own WriteSplit
# reshuffles every record and writes it through Beam's Python GZIP sink, 3x a bare
# TFRecordWriter loop. Each chunk is written whole by TensorFlow's C++ TFRecordWriter to its own
# numbered file, so the files, read in name order, hold the split in MNIST's own order.
CHUNK_EXAMPLES = 10000


# (input_base, prefix, dataset) -> (images, labels), per process. The executor puts the arrays it
# validated here, so an in-process runner (Beam's DirectRunner) converts them without reading and
# decompressing the files a second time; a worker process of another runner fills its own.
_ARRAYS: Dict[Tuple[str, str, str], Tuple[np.ndarray, np.ndarray]] = {}


def _split_arrays(input_base: str, prefix: str, dataset: str):
  """One split's (images, labels), read once per worker process (the driver validated all four
  files, digests included, before the job started)."""
  key = (input_base, prefix, dataset)
  if key not in _ARRAYS:
    split = mnist_data.load_split(input_base, prefix, validated=True, dataset=datasets.get(dataset))
    _ARRAYS[key] = split.images, split.labels
  return _ARRAYS[key]


def _read_chunk(bounds, prefix: str, input_base: str, dataset: str) -> Iterator[tf.train.Example]:
  images, labels = _split_arrays(input_base, prefix, dataset)
  for i in range(*bounds):
    yield _to_example(images[i], labels[i])


def chunks(count: int, size: int):
  """[start, end) bounds covering range(count), `size` at most each."""
  return [(start, min(start + size, count)) for start in range(0, count, size)]


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _MnistToExample(pipeline: beam.Pipeline, exec_properties: Dict[str, Any],
                    split_pattern: str) -> beam.pvalue.PCollection:
  """Reads one split's IDX pair inside the workers, chunk by chunk (the data never enters the job
  graph: only the chunks' bounds do)."""
  prefix = _prefix_of(split_pattern)
  split_name = next(s for s, p in SPLIT_PREFIXES.items() if p == prefix)
  limit = _limits(exec_properties).get(LIMIT_KEYS[split_name])
  input_base, dataset = exec_properties['input_base'], dataset_of(exec_properties).name
  count = len(_split_arrays(input_base, prefix, dataset)[1])
  count = min(limit, count) if limit else count
  return (pipeline
          | 'Chunks' >> beam.Create(chunks(count, CHUNK_EXAMPLES))
          | 'Spread' >> beam.Reshuffle()
          | 'ReadIdx' >> beam.FlatMap(_read_chunk, prefix, input_base, dataset))


DATA_FILE = 'data_tfrecord'  # as TFX's ExampleGen names its files: data_tfrecord-00000-of-00006.gz


def _write_chunk(indexed_bounds, split_dir: str, files: int, prefix: str, input_base: str,
                 dataset: str) -> int:
  """Writes one chunk as file number `index` of the split; returns its example count. A runner
  that retries the chunk writes the same file again, whole."""
  index, (start, end) = indexed_bounds
  images, labels = _split_arrays(input_base, prefix, dataset)
  tf.io.gfile.makedirs(split_dir)
  path = f'{split_dir.rstrip("/")}/{DATA_FILE}-{index:05d}-of-{files:05d}.gz'
  with tf.io.TFRecordWriter(path, options='GZIP') as writer:
    for i in range(start, end):
      writer.write(_to_example(images[i], labels[i]).SerializeToString())
  return end - start


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
  """Validates all four files first (one clear error, nothing written), then converts."""

  def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
    """The base class's hook (examples as a PCollection, for TFX's GenerateExamplesByBeam); Do
    below writes the chunks itself instead."""
    return _MnistToExample

  def _write_splits(self, examples: types.Artifact, counts: Dict[str, int], input_base: str,
                    dataset: str) -> None:
    with self._make_beam_pipeline() as pipeline:
      for split_name, prefix in SPLIT_PREFIXES.items():
        bounds = chunks(counts[split_name], CHUNK_EXAMPLES)
        _ = (pipeline
             | f'Chunks[{split_name}]' >> beam.Create(list(enumerate(bounds)))
             | f'Spread[{split_name}]' >> beam.Reshuffle()
             | f'Write[{split_name}]' >> beam.Map(
                 _write_chunk, artifact_utils.get_split_uri([examples], split_name), len(bounds),
                 prefix, input_base, dataset))

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
    input_base = exec_properties['input_base']
    dataset = dataset_of(exec_properties)
    splits = mnist_data.validate_splits(input_base, dataset)
    limits = _limits(exec_properties)
    counts = {}
    for split_name, prefix in SPLIT_PREFIXES.items():
      full = len(splits[prefix].labels)
      limit = limits.get(LIMIT_KEYS[split_name])
      counts[split_name] = min(limit, full) if limit else full
    examples = artifact_utils.get_single_instance(output_dict['examples'])
    examples.split_names = artifact_utils.encode_split_names(list(SPLIT_PREFIXES))
    for prefix, split in splits.items():
      _ARRAYS[(input_base, prefix, dataset.name)] = split.images, split.labels
    try:
      self._write_splits(examples, counts, input_base, dataset.name)
    finally:
      _ARRAYS.clear()  # the arrays are not needed after the job
    # What TFX's ExampleGen records of its output (base_example_gen_executor.Do).
    payload_format = exec_properties.get(standard_component_specs.OUTPUT_DATA_FORMAT_KEY)
    if payload_format:
      examples_utils.set_payload_format(examples, payload_format)
    file_format = exec_properties.get(standard_component_specs.OUTPUT_FILE_FORMAT_KEY)
    if file_format:
      examples_utils.set_file_format(examples, write_split.to_file_format_str(file_format))
    for split in splits.values():
      for file_name, digest in split.sha256.items():
        examples.set_string_custom_property(sha256_property(file_name), digest)
    examples.set_string_custom_property('source_uri', input_base)
    examples.set_string_custom_property(DATASET_KEY, dataset.name)
    examples.set_string_custom_property(CLASS_NAMES_KEY, json.dumps(list(dataset.class_names)))
    stats = {}
    for split_name, prefix in SPLIT_PREFIXES.items():
      n = counts[split_name]
      examples.set_int_custom_property(f'{split_name}_examples', n)
      stats[split_name] = image_stats(splits[prefix].images[:n], splits[prefix].labels[:n])
    with tf.io.gfile.GFile(f'{examples.uri.rstrip("/")}/{IMAGE_STATS_FILE}', 'w') as f:
      json.dump({DATASET_KEY: dataset.name, CLASS_NAMES_KEY: list(dataset.class_names),
                 'splits': stats}, f)
    # The local runner's console shows this on the component's line.
    logging.info('MnistExampleGen wrote %s', ', '.join(f'{s} {n}' for s, n in counts.items()))


def create_example_gen(input_base, train_examples: Optional[int] = None,
                       eval_examples: Optional[int] = None,
                       dataset: str = datasets.DEFAULT) -> FileBasedExampleGen:
  """MNIST ExampleGen reading the four IDX .gz files under `input_base` (a dir or gs:// URI),
  checked as `dataset`'s files (components/datasets.py)."""
  dataset = datasets.get(dataset).name
  for name, value in (('train_examples', train_examples), ('eval_examples', eval_examples)):
    if value is not None and value < 1:
      raise ValueError(f'{name} must be >= 1, got {value}')
  input_config = example_gen_pb2.Input(splits=[
      example_gen_pb2.Input.Split(name=split, pattern=_pattern(prefix))
      for split, prefix in SPLIT_PREFIXES.items()])
  limits = struct_pb2.Struct()
  if train_examples:
    limits['train_examples'] = train_examples
  if eval_examples:
    limits['eval_examples'] = eval_examples
  if dataset != datasets.DEFAULT:  # MNIST's pipelines compile (and cache) exactly as before
    limits[DATASET_KEY] = dataset
  custom_config = example_gen_pb2.CustomConfig()
  custom_config.custom_config.Pack(limits)
  return FileBasedExampleGen(
      input_base=input_base,
      input_config=input_config,
      custom_config=custom_config,
      output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
      custom_executor_spec=executor_spec.BeamExecutorSpec(Executor),
  ).with_id('MnistExampleGen')
