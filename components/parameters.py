"""The two pipeline parameters a Kubeflow run can set — epochs and the accuracy bound — each
live in one exec property of their own and nowhere else. Just before TFX's executor runs, fold()
writes the value into the JSON config that executor reads (the Trainer's custom_config, the
Evaluator's eval_config). The checks of the gates' bounds live here too. Kept free of
TensorFlow imports: the CLIs use the checks."""

from typing import Any, Callable, Dict


def check_accuracy_threshold(value: Any) -> float:
  """The one check of the Evaluator's bound: on the command line, in PipelineConfig, and on the
  value a Kubeflow run hands the executor."""
  bound = float(value)
  if not 0 <= bound <= 1:
    raise ValueError(f'accuracy threshold must be in [0, 1], got {value}')
  return bound


DEFAULT_LATENCY_BOUND_MS = 1000.0  # the ServingCheck's: p99 of one-image `classify` calls


def check_latency_bound(value: Any) -> float:
  """The ServingCheck's latency bound (milliseconds): on the command line and in the executor."""
  bound = float(value)
  if not bound > 0:
    raise ValueError(f'the serving latency bound must be > 0 ms, got {value}')
  return bound


DEFAULT_LABEL_DRIFT_BOUND = 0.08  # the ExampleValidator's: L-infinity, train vs eval labels


def check_label_drift_bound(value: Any) -> float:
  """The ExampleValidator's label-skew bound: on the command line, in PipelineConfig, in the
  executor."""
  bound = float(value)
  if not 0.0 < bound <= 1.0:
    raise ValueError(f'label-drift-bound must be in (0, 1], got {bound:g}')
  return bound


def fold(
  exec_properties: Dict[str, Any], parameter: str, config_key: str, write: Callable[[str, Any], str]
) -> Dict[str, Any]:
  """A copy of exec_properties without `parameter`, whose value write(config_json, value) has put
  into the JSON exec property `config_key`; write validates the value and says what is wrong."""
  folded = dict(exec_properties)
  value = folded.pop(parameter, None)
  if value is None:
    raise ValueError(f'the {parameter!r} parameter is missing: recompile the pipeline')
  folded[config_key] = write(folded.get(config_key) or '{}', value)
  return folded
