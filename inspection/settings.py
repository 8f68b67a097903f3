"""A run's settings, read back from ML Metadata: what each component ran with is recorded by
both orchestrators as its execution's exec properties — a local TFX run as one custom property
per exec property, Kubeflow Pipelines 2.x as the `inputs` struct of the task's execution
(kubeflow/pipelines backend/src/v2/metadata/client.go CreateExecution, keyInputs, tags 2.0.5 to
2.17) — so every reader gets the settings from the store, and they are the ones really used.

  ExampleGen      custom_config {dataset, train_examples, eval_examples}, input_base
  Trainer         epochs, custom_config (trainer_module.config.TrainingConfig as JSON)
  ExampleValidator label_drift_bound;  Evaluator accuracy_threshold;  ServingCheck max_latency_ms
"""

import json
from typing import Any, Dict, List

from components.lib import mlmd, names
from components.lib.datasets import DEFAULT
from components.lib.names import EXAMPLE_GEN, TRAINER

# (setting, node, exec property): plain exec properties shown as settings.
_PLAIN = (
  ('data_dir', EXAMPLE_GEN, names.INPUT_BASE),
  ('label_drift_bound', names.EXAMPLE_VALIDATOR, names.LABEL_DRIFT_BOUND),
  ('accuracy_threshold', names.EVALUATOR, names.ACCURACY_THRESHOLD),
  ('serving_latency_bound_ms', names.SERVING_CHECK, names.LATENCY_BOUND_MS),
)
_INTS = (
  names.EPOCHS,
  'batch_size',
  'seed',
  'validation_examples',
  names.TRAIN_EXAMPLES,
  names.EVAL_EXAMPLES,
)
# What `runs` shows of each run, in this order (the flags' names, shortened).
KEY_SETTINGS = (
  ('dataset', 'data'),
  ('epochs', 'epochs'),
  ('batch_size', 'batch'),
  ('learning_rate', 'lr'),
  ('precision', 'precision'),
  ('seed', 'seed'),
)
AUGMENTATION = ('augment_rotation', 'augment_zoom', 'augment_shift')


def exec_property(execution, key: str) -> Any:
  """An exec property as a local run records it, or as KFP's driver does (in `inputs`)."""
  value = mlmd.custom_value(execution, key)
  if value is None and 'inputs' in execution.custom_properties:
    inputs = execution.custom_properties['inputs']
    if inputs.WhichOneof('value') == 'struct_value' and key in inputs.struct_value.fields:
      value = inputs.struct_value[key]
  return value


def _json(value: Any) -> Dict[str, Any]:
  if not value:
    return {}
  try:
    parsed = json.loads(value) if isinstance(value, str) else value
  except ValueError:
    return {}
  return dict(parsed) if hasattr(parsed, 'keys') else {}


def _example_gen_config(value: Any) -> Dict[str, Any]:
  """ExampleGen's CustomConfig proto as JSON:
  {"custom_config": {"@type": …Struct, "value": {…}}}."""
  packed = _json(value).get('custom_config') or {}
  inner = packed.get('value', {}) if hasattr(packed, 'get') else {}
  return dict(inner) if hasattr(inner, 'keys') else {}


# Every exec property a setting comes from, by node.
RECORDED = {
  EXAMPLE_GEN: (names.CUSTOM_CONFIG, names.INPUT_BASE),
  TRAINER: (names.CUSTOM_CONFIG, names.EPOCHS),
  **{node: (key,) for _, node, key in _PLAIN if node != EXAMPLE_GEN},
}


def from_executions(executions_by_node: Dict[str, Any]) -> Dict[str, Any]:
  """{setting: value} of one run, from its executions by node id; absent nodes add nothing."""
  return from_properties(
    {
      node: {key: exec_property(execution, key) for key in RECORDED[node]}
      for node, execution in executions_by_node.items()
      if node in RECORDED
    }
  )


def from_properties(properties_by_node: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
  """{setting: value} from {node: {exec property: value}} (RECORDED's), however they were read."""
  found: Dict[str, Any] = {}
  example_gen = properties_by_node.get(EXAMPLE_GEN)
  if example_gen is not None:
    limits = _example_gen_config(example_gen.get(names.CUSTOM_CONFIG))
    found['dataset'] = limits.get(names.DATASET) or DEFAULT  # MNIST runs record no dataset key
    found[names.TRAIN_EXAMPLES] = limits.get(names.TRAIN_EXAMPLES)  # None: the whole split
    found[names.EVAL_EXAMPLES] = limits.get(names.EVAL_EXAMPLES)
  trainer = properties_by_node.get(TRAINER)
  if trainer is not None:
    training = _json(trainer.get(names.CUSTOM_CONFIG))
    epochs = trainer.get(names.EPOCHS)
    found[names.EPOCHS] = training.pop(names.EPOCHS, None) if epochs is None else epochs
    found.update(sorted(training.items()))
  for setting, node, key in _PLAIN:
    if node in properties_by_node:
      found[setting] = properties_by_node[node].get(key)
  for key in _INTS:
    if isinstance(found.get(key), float) and found[key].is_integer():
      found[key] = int(found[key])  # KFP's struct holds every number as a double
  return found


def key_settings(settings: Dict[str, Any]) -> str:
  """One short cell for the runs table, e.g.
  'mnist epochs=18 batch=128 lr=0.001 precision=auto seed=-'."""
  if not settings:
    return '-'
  parts = [settings.get('dataset') or '-']
  for key, label in KEY_SETTINGS[1:]:
    if key in settings:
      value = settings[key]
      parts.append(
        f'{label}={"-" if value is None else f"{value:g}" if isinstance(value, float) else value}'
      )
  # The flip is not in AUGMENTATION: runs recorded before it existed still read 'no-augment'.
  if any(settings.get(key) for key in AUGMENTATION + ('augment_flip',)):
    parts.append('augmented')
  elif all(key in settings for key in AUGMENTATION):
    parts.append('no-augment')
  return ' '.join(parts)


def differences(a: Dict[str, Any], b: Dict[str, Any]) -> List[str]:
  """Settings whose values differ between two runs (one missing counts), in a's order then b's."""
  keys = list(a) + [k for k in b if k not in a]
  return [k for k in keys if a.get(k) != b.get(k)]
