"""MnistExampleGen: validated MNIST IDX files → GZIP TFRecords of tf.train.Example, with Beam.

A FileBasedExampleGen with a custom Beam executor, so TFX's driver fingerprints the
input files (caching, span/version) and the Kubeflow V2 runner compiles it as usual.
Splits are MNIST's own: `train` = the 60k training set, `eval` = the 10k test set.
"""
from typing import Any, Dict, Iterator, List, Optional

import apache_beam as beam
from absl import logging
import tensorflow as tf
from google.protobuf import json_format
from google.protobuf import struct_pb2
from tfx import types
from tfx.components.example_gen import base_example_gen_executor
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils

from components import mnist_data
from trainer_module.features import EVAL_SPLIT, IMAGE_KEY, LABEL_KEY, TRAIN_SPLIT

# Output split name → MNIST file prefix. The pattern matches the images and labels file.
SPLIT_PREFIXES = {TRAIN_SPLIT: 'train', EVAL_SPLIT: 't10k'}
LIMIT_KEYS = {TRAIN_SPLIT: 'train_examples', EVAL_SPLIT: 'eval_examples'}


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


def _limits(exec_properties: Dict[str, Any]) -> Dict[str, int]:
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
  return {k: int(v) for k, v in struct.items() if v is not None and int(v) > 0}


def _to_example(image, label) -> tf.train.Example:
  return tf.train.Example(features=tf.train.Features(feature={
      IMAGE_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[image.tobytes()])),
      LABEL_KEY: tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
  }))


def _read_split(prefix: str, input_base: str, limit: Optional[int]) -> Iterator[tf.train.Example]:
  # The executor validated all four files (digests included) before the job started.
  split = mnist_data.load_split(input_base, prefix, validated=True)
  n = len(split.labels) if not limit else min(limit, len(split.labels))
  for i in range(n):
    yield _to_example(split.images[i], split.labels[i])


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _MnistToExample(pipeline: beam.Pipeline, exec_properties: Dict[str, Any],
                    split_pattern: str) -> beam.pvalue.PCollection:
  """Reads one split's IDX pair inside a worker (the data never enters the job graph)."""
  prefix = _prefix_of(split_pattern)
  split_name = next(s for s, p in SPLIT_PREFIXES.items() if p == prefix)
  limit = _limits(exec_properties).get(LIMIT_KEYS[split_name])
  return (pipeline
          | 'Source' >> beam.Create([prefix])
          | 'ReadIdx' >> beam.FlatMap(_read_split, exec_properties['input_base'], limit)
          | 'Spread' >> beam.Reshuffle())


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
  """Validates all four files first (one clear error, nothing written), then converts."""

  def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
    return _MnistToExample

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
    input_base = exec_properties['input_base']
    digests = mnist_data.validate_dir(input_base)
    super().Do(input_dict, output_dict, exec_properties)
    examples = artifact_utils.get_single_instance(output_dict['examples'])
    for file_name, digest in digests.items():
      examples.set_string_custom_property(sha256_property(file_name), digest)
    examples.set_string_custom_property('source_uri', input_base)
    limits = _limits(exec_properties)
    counts = {}
    for split_name, prefix in SPLIT_PREFIXES.items():
      full = mnist_data.FILES[prefix][0].count
      limit = limits.get(LIMIT_KEYS[split_name])
      counts[split_name] = min(limit, full) if limit else full
      examples.set_int_custom_property(f'{split_name}_examples', counts[split_name])
    # The local runner's console shows this on the component's line.
    logging.info('MnistExampleGen wrote %s', ', '.join(f'{s} {n}' for s, n in counts.items()))


def create_example_gen(input_base, train_examples: Optional[int] = None,
                       eval_examples: Optional[int] = None) -> FileBasedExampleGen:
  """MNIST ExampleGen reading the four IDX .gz files under `input_base` (a dir or gs:// URI)."""
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
  custom_config = example_gen_pb2.CustomConfig()
  custom_config.custom_config.Pack(limits)
  return FileBasedExampleGen(
      input_base=input_base,
      input_config=input_config,
      custom_config=custom_config,
      output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
      custom_executor_spec=executor_spec.BeamExecutorSpec(Executor),
  ).with_id('MnistExampleGen')
