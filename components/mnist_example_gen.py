"""MnistExampleGen: validated MNIST IDX files → GZIP TFRecords of tf.train.Example, with Beam.

A FileBasedExampleGen with a custom Beam executor, so TFX's driver fingerprints the
input files (caching, span/version) and the Kubeflow V2 runner compiles it as usual.
Splits are MNIST's own: `train` = the 60k training set, `eval` = the 10k test set.

The data set (--dataset: mnist, fashion-mnist, idx, images, csv) travels in custom_config; the
Examples artifact names it and its files' digests (custom properties), and carries
`image_stats.json`: per split, the label counts, the mean image of each class and the
pixel-intensity histogram (the run report shows them; TFDV's statistics of raw image bytes
cannot). A folder of pictures or a CSV (components/own_data.py) brings its own classes, and with
`unlabelled` (--infer-dir) a folder of new pictures becomes one `infer` split to label.
"""

import json
import os
from typing import Any, Dict, Iterator, List, Optional, Tuple

import apache_beam as beam
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

from components import own_data
from components.example_records import (  # noqa: F401  # HISTOGRAM_BINS, image_stats: tests
  CHUNK_EXAMPLES,
  HISTOGRAM_BINS,
  ImageStats,
  chunk_path,
  chunks,
  image_stats,
  to_example,
  write_chunk,
)
from components.lib import csv_files, datasets, idx, image_folders, names
from trainer_module.features import EVAL_SPLIT, INFER_SPLIT, TRAIN_SPLIT

# Output split name → MNIST file prefix. The pattern matches the images and labels file.
SPLIT_PREFIXES = {TRAIN_SPLIT: 'train', EVAL_SPLIT: 't10k'}
LIMIT_KEYS = {TRAIN_SPLIT: names.TRAIN_EXAMPLES, EVAL_SPLIT: names.EVAL_EXAMPLES}
# What TFX's driver fingerprints (file sizes and times: a change reruns the ExampleGen) of a folder
# of pictures or a CSV; the executor reads the folder by its own rules (components/lib/).
PICTURE_PATTERNS = {
  image_folders.TRAIN_DIR: {TRAIN_SPLIT: 'train/*/*', EVAL_SPLIT: 'test/*/*'},
  '': {TRAIN_SPLIT: '*/*', EVAL_SPLIT: '*/*'},  # <class>/*: the split is made by hashing
}
CSV_PATTERNS = {split: name for split, name in csv_files.CSV_FILES.items()}


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


# Examples per output file and per read from the IDX stream: CHUNK_EXAMPLES. Each split is read
# once, in order, from its two .gz files inflated side by side (idx.read_chunks), and written chunk
# by chunk by TensorFlow's C++ TFRecordWriter, each chunk whole to its own numbered file: memory is
# one chunk whatever the split's size, and the files, read in name order, hold the split in its own
# order. (TFX's own WriteSplit reshuffles every record and writes it through Beam's Python GZIP
# sink, 3x a bare TFRecordWriter loop.) Beam gets one element per split, so a runner with more than
# one worker writes the two splits side by side.


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


def _write_split(split_name: str, split_dir: str, input_base: str, dataset: str, count: int) -> int:
  """Writes the split's first `count` examples, chunk i whole to file number i; returns how many
  it wrote. A runner that retries the split writes the same files again, whole."""
  tf.io.gfile.makedirs(split_dir)
  written = 0
  for index, files, examples in _examples(split_name, input_base, dataset, count):
    written += write_chunk(chunk_path(split_dir, index, files), examples)
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

  @staticmethod
  def _record_formats(examples: types.Artifact, exec_properties: Dict[str, Any]) -> None:
    """What TFX's ExampleGen records of its output (base_example_gen_executor.Do)."""
    payload_format = exec_properties.get(standard_component_specs.OUTPUT_DATA_FORMAT_KEY)
    if payload_format:
      examples_utils.set_payload_format(examples, payload_format)
    file_format = exec_properties.get(standard_component_specs.OUTPUT_FILE_FORMAT_KEY)
    if file_format:
      examples_utils.set_file_format(examples, write_split.to_file_format_str(file_format))

  def Do(
    self,
    input_dict: Dict[str, List[types.Artifact]],
    output_dict: Dict[str, List[types.Artifact]],
    exec_properties: Dict[str, Any],
  ) -> None:
    input_base = exec_properties['input_base']
    dataset = dataset_of(exec_properties)
    limits = _limits(exec_properties)
    examples = artifact_utils.get_single_instance(output_dict['examples'])
    unlabelled = bool(_custom(exec_properties).get(names.UNLABELLED))
    if unlabelled or dataset.classes_from_data:
      limit_of = {split: limits[key] for split, key in LIMIT_KEYS.items() if key in limits}
      counts = own_data.write_examples(
        self._make_beam_pipeline, examples, dataset, input_base, limit_of, unlabelled
      )
      self._record_formats(examples, exec_properties)
      logging.info(names.EXAMPLE_COUNTS_LOG, ', '.join(f'{s} {n}' for s, n in counts.items()))
      return
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
    examples.split_names = artifact_utils.encode_split_names(list(SPLIT_PREFIXES))
    self._write_splits(examples, counts, input_base, dataset.name)
    self._record_formats(examples, exec_properties)
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


def _split_patterns(dataset: datasets.Dataset, input_base, unlabelled: bool) -> Dict[str, str]:
  """Split name -> the pattern TFX's driver fingerprints (and requires to match a file)."""
  if unlabelled:
    return {INFER_SPLIT: '*'}
  if dataset.kind == datasets.CSV_KIND:
    return dict(CSV_PATTERNS)
  if dataset.kind == datasets.IMAGES_KIND:
    layout = ''
    if isinstance(input_base, str) and '://' not in input_base:  # else: '*/*' fits both layouts
      both = all(
        os.path.isdir(os.path.join(input_base, d)) for d in image_folders.SPLIT_DIRS.values()
      )
      layout = image_folders.TRAIN_DIR if both else ''
    return dict(PICTURE_PATTERNS[layout])
  return {split: _pattern(prefix) for split, prefix in SPLIT_PREFIXES.items()}


def create_example_gen(
  input_base,
  train_examples: Optional[int] = None,
  eval_examples: Optional[int] = None,
  dataset: str = datasets.DEFAULT,
  unlabelled: bool = False,
) -> FileBasedExampleGen:
  """The ExampleGen reading `dataset`'s files under `input_base` (a dir or gs:// / s3:// URI):
  MNIST's four IDX .gz files checked as `dataset`'s (components/lib/datasets.py), a folder of
  pictures or a CSV; with `unlabelled`, a folder of new pictures (one `infer` split)."""
  spec = datasets.get(dataset)
  for name, value in ((names.TRAIN_EXAMPLES, train_examples), (names.EVAL_EXAMPLES, eval_examples)):
    if value is not None and value < 1:
      raise ValueError(f'{name} must be >= 1, got {value}')
  input_config = example_gen_pb2.Input(
    splits=[
      example_gen_pb2.Input.Split(name=split, pattern=pattern)
      for split, pattern in _split_patterns(spec, input_base, unlabelled).items()
    ]
  )
  limits = struct_pb2.Struct()
  if train_examples:
    limits[names.TRAIN_EXAMPLES] = train_examples
  if eval_examples:
    limits[names.EVAL_EXAMPLES] = eval_examples
  if spec.name != datasets.DEFAULT:  # MNIST's pipelines compile (and cache) exactly as before
    limits[names.DATASET] = spec.name
  if unlabelled:
    limits[names.UNLABELLED] = True
  custom_config = example_gen_pb2.CustomConfig()
  custom_config.custom_config.Pack(limits)
  return FileBasedExampleGen(
    input_base=input_base,
    input_config=input_config,
    custom_config=custom_config,
    output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
    custom_executor_spec=executor_spec.BeamExecutorSpec(Executor),
  ).with_id(names.INFER_EXAMPLE_GEN if unlabelled else names.EXAMPLE_GEN)
