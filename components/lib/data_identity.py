"""What a model was trained on, as far as comparing and serving it go: the data set's name and its
class names, in label order. Two models are alike only when both match: an output dir holds the
models of one such identity (pipeline/local/data_claim.py), and a run's baseline is a model of
the candidate's own identity (components/baseline_resolver.py). The name alone is not enough: a
data set whose classes come from its data has other classes in another folder.

Where it is recorded: MnistExampleGen writes both on its Examples (names.DATASET,
names.CLASS_NAMES); the Trainer's Model has them through its Examples."""

import json
from typing import Any, NamedTuple, Optional, Tuple

from components.lib import datasets, mlmd, names

MAX_CLASSES = 1000  # a record naming more is not one of ours
MAX_NAME = 200


class DataIdentity(NamedTuple):
  dataset: str
  class_names: Tuple[str, ...]

  def describe(self, shown: int = 3) -> str:
    """'fashion-mnist (classes T-shirt/top, Trouser, Pullover, … 10 in all)', for messages."""
    classes = ', '.join(self.class_names[:shown])
    more = f', … {len(self.class_names)} in all' if len(self.class_names) > shown else ''
    return f'{self.dataset} (classes {classes}{more})'

  def to_json(self) -> str:
    return json.dumps({names.DATASET: self.dataset, names.CLASS_NAMES: list(self.class_names)})


def of_dataset(dataset: Any) -> DataIdentity:
  """The identity of a --dataset value (or Dataset), with its class names."""
  spec = datasets.get(dataset)
  return DataIdentity(spec.name, tuple(spec.class_names))


def from_record(record: Any) -> Optional[DataIdentity]:
  """The identity in a record ({'dataset': …, 'class_names': […]}), or None when `record` does
  not have that form (every name text, of sane length; at least one class)."""
  if not isinstance(record, dict):
    return None
  dataset, classes = record.get(names.DATASET), record.get(names.CLASS_NAMES)
  if not isinstance(dataset, str) or not 0 < len(dataset) <= MAX_NAME:
    return None
  if not isinstance(classes, list) or not 0 < len(classes) <= MAX_CLASSES:
    return None
  if not all(isinstance(c, str) and len(c) <= MAX_NAME for c in classes):
    return None
  return DataIdentity(dataset, tuple(classes))


def of_examples(examples: Any) -> DataIdentity:
  """The identity an Examples artifact (an ML Metadata Artifact proto) records. Examples from
  before the record: the data set named (MNIST before there was a choice), its registered
  classes."""
  dataset = mlmd.custom_value(examples, names.DATASET) or datasets.DEFAULT
  recorded = mlmd.custom_value(examples, names.CLASS_NAMES)
  try:
    found = from_record({names.DATASET: str(dataset), names.CLASS_NAMES: json.loads(recorded)})
  except (TypeError, ValueError, RecursionError):
    found = None
  if found is not None:
    return found
  try:
    return DataIdentity(str(dataset), tuple(datasets.get(str(dataset)).class_names))
  except ValueError:  # a data set this code does not know, without a record of its classes
    return DataIdentity(str(dataset), ())
