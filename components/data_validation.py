"""Data validation before training: StatisticsGen → ExampleValidator against the schema checked
into the repository (components/schema/schema.pbtxt, brought in by ImportSchemaGen), with TFDV's
L-infinity skew comparator between the `train` and `eval` label distributions.

TFX's ExampleValidator only records anomalies; this one (same inputs and outputs, TFX's executor
underneath) also compares the two splits' labels and then fails when anything is wrong, so that
nothing downstream (Trainer, Evaluator, Pusher) runs. Its error is a `DataValidationError`, an
`MnistDataError`, whose message is one line naming the split, the feature and the anomaly; the
local runner prints it as `error: <message>`, exit 1.
"""

import os
from typing import Any, Dict, List, Optional, Union

import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2
from tfx import types
from tfx.components.example_validator import executor as example_validator_executor
from tfx.components.schema_gen import component as schema_gen_component
from tfx.components.schema_gen.import_schema_gen import component as import_schema_gen_component
from tfx.components.schema_gen.import_schema_gen import executor as import_schema_gen_executor
from tfx.components.statistics_gen import component as statistics_gen_component
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.dsl.components.base import base_component, executor_spec
from tfx.orchestration import data_types
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.utils import io_utils

from components.lib import artifact_files, names, project
from components.lib.idx import MnistDataError
from components.lib.local_files import check_regular
from components.parameters import DEFAULT_LABEL_DRIFT_BOUND, check_label_drift_bound
from trainer_module.features import EVAL_SPLIT, IMAGE_KEY, IMAGE_SIZE, LABEL_KEY, TRAIN_SPLIT

SCHEMA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'schema', 'schema.pbtxt')
# The same file as a Kubeflow task finds it: relative to the code's root (the image's /pipeline,
# Dockerfile: COPY components/), resolved by ImportSchemaExecutor wherever the task runs.
CONTAINER_SCHEMA_FILE = 'components/schema/schema.pbtxt'
SKEW_FILE = 'LabelSkew.pb'  # in the anomalies artifact's eval split folder, beside SchemaDiff.pb
IMAGE_BYTES = IMAGE_SIZE * IMAGE_SIZE


class DataValidationError(MnistDataError):
  """The data broke the schema or the label-skew bound; the message is one line."""


def schema_file(container: bool = False) -> str:
  return CONTAINER_SCHEMA_FILE if container else SCHEMA_FILE


def check_schema_file(path: str) -> None:
  """DataValidationError unless a local schema file is a regular file (a FIFO would block the
  reader forever); an object-store URI is left to TFX."""
  if '://' in path:
    return
  try:
    check_regular(path)
  except OSError as e:
    raise DataValidationError(f'schema {path}: {e.strerror or e}') from None


def load_schema(path: str = SCHEMA_FILE):
  check_schema_file(path)
  return io_utils.SchemaReader().read(path)


def _label_skew(schema, train_stats, eval_stats, bound: float):
  """TFDV's skew comparator on the label: train as 'training', eval as 'serving'. Only the
  comparator's findings are kept (each split's own anomalies are the per-split validation's)."""
  with_bound = schema_pb2.Schema()
  with_bound.CopyFrom(schema)
  for feature in with_bound.feature:
    if feature.name == LABEL_KEY:
      feature.skew_comparator.infinity_norm.threshold = bound
  found = tfdv.validate_statistics(train_stats, with_bound, serving_statistics=eval_stats)
  skew = anomalies_pb2.Anomalies()
  skew.CopyFrom(found)
  skew.ClearField('anomaly_info')
  skew.ClearField('dataset_anomaly_info')
  comparator_types = {
    value
    for name, value in anomalies_pb2.AnomalyInfo.Type.items()
    if 'COMPARATOR' in name or 'SKEW' in name
  }
  for name, info in found.anomaly_info.items():
    reasons = [r for r in info.reason if r.type in comparator_types]
    if reasons:
      kept = skew.anomaly_info[name]
      kept.CopyFrom(info)
      del kept.reason[:]
      kept.reason.extend(reasons)
  return skew


def _image_length_anomaly(stats) -> Optional[str]:
  """TFDV's schema bounds the image's largest byte size; the smallest is checked here."""
  for dataset in stats.datasets:
    for feature in dataset.features:
      name = feature.path.step[-1] if feature.path.step else feature.name
      if name != IMAGE_KEY or not feature.HasField('bytes_stats'):
        continue
      low, high = feature.bytes_stats.min_num_bytes, feature.bytes_stats.max_num_bytes
      if (low, high) != (IMAGE_BYTES, IMAGE_BYTES):
        return (
          f'image byte lengths {low:g} to {high:g}, expected every image to be {IMAGE_BYTES} bytes'
        )
  return None


def describe(anomalies) -> List[str]:
  """One phrase per anomalous feature: 'label: <short description>: <description>'."""
  phrases = []
  for name, info in sorted(anomalies.anomaly_info.items()):
    reasons = (
      '; '.join(
        f'{r.short_description}: {r.description}' if r.description else r.short_description
        for r in info.reason
      )
      or info.description
    )
    phrases.append(f'{name}: {reasons}')
  if anomalies.HasField('dataset_anomaly_info'):
    reasons = '; '.join(
      r.description or r.short_description for r in anomalies.dataset_anomaly_info.reason
    )
    phrases.append(f'dataset: {reasons}')
  return phrases


def read_anomalies(
  anomalies_uri: str, split: str, file_name: str = example_validator_executor.DEFAULT_FILE_NAME
):
  """The Anomalies proto a validator wrote for one split (None if there is none)."""
  path = os.path.join(anomalies_uri, f'Split-{split}', file_name)
  if not tf.io.gfile.exists(path):
    return None
  anomalies = anomalies_pb2.Anomalies()
  with tf.io.gfile.GFile(path, 'rb') as f:
    anomalies.ParseFromString(f.read())
  return anomalies


def with_classes(schema, num_classes: int):
  """A copy of the schema whose label domain is 0..num_classes-1 (the checked-in one: 0-9)."""
  adapted = schema_pb2.Schema()
  adapted.CopyFrom(schema)
  for feature in adapted.feature:
    if feature.name == LABEL_KEY:
      feature.int_domain.min, feature.int_domain.max = 0, num_classes - 1
  return adapted


class ImportSchemaExecutor(import_schema_gen_executor.Executor):
  """TFX's ImportSchemaGen executor; a relative schema_file is relative to the code's root. Given
  the Examples of a data set that brings its own classes, the label's domain is theirs."""

  def Do(self, input_dict, output_dict, exec_properties):
    path = exec_properties.get(standard_component_specs.SCHEMA_FILE_KEY, '')
    if path and '://' not in path and not os.path.isabs(path):
      exec_properties = dict(
        exec_properties,
        **{standard_component_specs.SCHEMA_FILE_KEY: os.path.join(project.PROJECT_ROOT, path)},
      )
    check_schema_file(exec_properties.get(standard_component_specs.SCHEMA_FILE_KEY, ''))
    result = super().Do(input_dict, output_dict, exec_properties)
    class_names = (
      artifact_files.data_class_names(artifact_utils.get_single_instance(input_dict[EXAMPLES]))
      if input_dict.get(EXAMPLES)
      else None
    )
    if class_names:
      schema_dir = artifact_utils.get_single_uri(output_dict[standard_component_specs.SCHEMA_KEY])
      schema_path = io_utils.get_only_uri_in_dir(schema_dir)
      schema = io_utils.SchemaReader().read(schema_path)
      io_utils.write_pbtxt_file(schema_path, with_classes(schema, len(class_names)))
    return result


class RepoImportSchemaGen(import_schema_gen_component.ImportSchemaGen):
  """ImportSchemaGen whose schema file may be named relative to the code's root."""

  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(ImportSchemaExecutor)


EXAMPLES = standard_component_specs.EXAMPLES_KEY


class DataClassesSchemaGenSpec(standard_component_specs.ImportSchemaGenSpec):
  INPUTS = {EXAMPLES: ChannelParameter(type=standard_artifacts.Examples)}


class DataClassesImportSchemaGen(RepoImportSchemaGen):
  """The checked-in schema with the label domain of the Examples' own classes (--dataset images,
  csv: their number comes from the data). The IDX sets keep RepoImportSchemaGen, no input."""

  SPEC_CLASS = DataClassesSchemaGenSpec

  def __init__(self, schema_file: str, examples: types.BaseChannel):
    base_component.BaseComponent.__init__(
      self,
      spec=DataClassesSchemaGenSpec(
        schema_file=schema_file,
        examples=examples,
        schema=types.Channel(type=standard_artifacts.Schema),
      ),
    )


class Executor(example_validator_executor.Executor):
  """TFX's ExampleValidator per split, then the label skew between train and eval; any anomaly
  raises DataValidationError (after the anomalies are written)."""

  def Do(
    self,
    input_dict: Dict[str, List[types.Artifact]],
    output_dict: Dict[str, List[types.Artifact]],
    exec_properties: Dict[str, Any],
  ):
    result = super().Do(input_dict, output_dict, exec_properties)
    stats_artifact = artifact_utils.get_single_instance(
      input_dict[standard_component_specs.STATISTICS_KEY]
    )
    anomalies_uri = artifact_utils.get_single_uri(
      output_dict[standard_component_specs.ANOMALIES_KEY]
    )
    schema = io_utils.SchemaReader().read(
      io_utils.get_only_uri_in_dir(
        artifact_utils.get_single_uri(input_dict[standard_component_specs.SCHEMA_KEY])
      )
    )
    stats = {
      split: stats_artifact_utils.load_statistics(stats_artifact, split).proto()
      for split in (TRAIN_SPLIT, EVAL_SPLIT)
    }

    problems = []
    for split in (TRAIN_SPLIT, EVAL_SPLIT):
      anomalies = read_anomalies(anomalies_uri, split)
      if anomalies is not None:
        problems += [f'split {split}: {phrase}' for phrase in describe(anomalies)]
      length = _image_length_anomaly(stats[split])
      if length:
        problems.append(f'split {split}: {length}')
    bound = check_label_drift_bound(
      exec_properties.get(names.LABEL_DRIFT_BOUND) or DEFAULT_LABEL_DRIFT_BOUND
    )
    skew = _label_skew(schema, stats[TRAIN_SPLIT], stats[EVAL_SPLIT], bound)
    skew_dir = os.path.join(anomalies_uri, f'Split-{EVAL_SPLIT}')
    tf.io.gfile.makedirs(skew_dir)
    with tf.io.gfile.GFile(os.path.join(skew_dir, SKEW_FILE), 'wb') as f:
      f.write(skew.SerializeToString())
    problems += [
      f'split {EVAL_SPLIT} vs {TRAIN_SPLIT} (skew, --label-drift-bound {bound:g}): {phrase}'
      for phrase in describe(skew)
    ]
    if problems:
      more = f' (and {len(problems) - 1} more: see {anomalies_uri})' if len(problems) > 1 else ''
      raise DataValidationError(f'data validation: {problems[0]}{more}'.replace('\n', ' '))
    return result


class DataValidatorSpec(standard_component_specs.ExampleValidatorSpec):
  PARAMETERS = {
    **standard_component_specs.ExampleValidatorSpec.PARAMETERS,
    names.LABEL_DRIFT_BOUND: ExecutionParameter(type=float),
  }


class DataValidator(base_component.BaseComponent):
  """ExampleValidator that also bounds the train/eval label skew, and stops the run on anomalies."""

  SPEC_CLASS = DataValidatorSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

  def __init__(
    self,
    statistics: types.BaseChannel,
    schema: types.BaseChannel,
    label_drift_bound: Union[float, data_types.RuntimeParameter] = DEFAULT_LABEL_DRIFT_BOUND,
  ):
    super().__init__(
      spec=DataValidatorSpec(
        statistics=statistics,
        schema=schema,
        label_drift_bound=label_drift_bound,
        anomalies=types.Channel(type=standard_artifacts.ExampleAnomalies),
      )
    )


def create_validation(
  examples: types.BaseChannel,
  label_drift_bound=DEFAULT_LABEL_DRIFT_BOUND,
  container: bool = False,
  classes_from_data: bool = False,
) -> List[base_component.BaseComponent]:
  """[ImportSchemaGen, StatisticsGen, SchemaGen, ExampleValidator] for `examples`; the
  ExampleValidator is the one node the Trainer must wait for (the last in the list). With
  `classes_from_data`, the schema's label domain is the Examples' classes."""
  schema_importer = (
    DataClassesImportSchemaGen(schema_file(container), examples)
    if classes_from_data
    else RepoImportSchemaGen(schema_file=schema_file(container))
  ).with_id(names.IMPORT_SCHEMA_GEN)
  statistics_gen = statistics_gen_component.StatisticsGen(
    examples=examples, schema=schema_importer.outputs['schema']
  ).with_id(names.STATISTICS_GEN)
  # Inferred from the statistics, for comparison with the checked-in schema in the report.
  schema_gen = schema_gen_component.SchemaGen(
    statistics=statistics_gen.outputs['statistics'], infer_feature_shape=False
  ).with_id(names.SCHEMA_GEN)
  validator = DataValidator(
    statistics=statistics_gen.outputs['statistics'],
    schema=schema_importer.outputs['schema'],
    label_drift_bound=label_drift_bound,
  ).with_id(names.EXAMPLE_VALIDATOR)
  return [schema_importer, statistics_gen, schema_gen, validator]
