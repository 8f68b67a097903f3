"""ServingCheck: the candidate must load and answer as a model server would before it is pushed.

TFX's InfraValidator does this job, but it needs a model server (Docker or Kubernetes) and does
not run on Kubeflow V2 (tensorflow/tfx#5512). This component runs anywhere the Trainer runs: a
fresh Python process (components/serving_probe.py; locally started while the Evaluator runs, so
that its TensorFlow import is hidden, but given the model only now) loads the candidate with
tf.saved_model.load, replays its TF Serving warmup requests, answers the whole eval split through
`classify` and `serving_default`, checks out-of-range input is refused, and times single images
and batches. The judgement (`judge`) requires both signatures to agree on every example, their
accuracy to equal the Evaluator's (TFMA's) on the same examples, and single-image p99 latency
within a bound. It emits TFX's standard InfraBlessing (custom property `blessed` = 1 or 0, and
the INFRA_BLESSED / INFRA_NOT_BLESSED marker file, as InfraValidator does), which TFX's Pusher
already gates on; the numbers and the reasons go to `serving_check.json` in the blessing and to
its custom properties, where the report and the run summary read them; `classify`'s
probabilities for the eval split and the labels they answer (eval_answers.npz) go beside them,
so the report does not predict the eval split a third time.
"""

import atexit
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from typing import Any, Dict, List, NamedTuple, Optional

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter
from tfx.utils import io_utils, path_utils

from components.lib import names, project
from components.lib.evaluation_result import read_evaluation
from components.lib.names import ANSWERS_FILE, LATENCY_BOUND_MS, SERVING_RESULT_FILE
from components.lib.object_storage import enable_for
from components.parameters import DEFAULT_LATENCY_BOUND_MS, check_latency_bound
from components.serving_probe import WAIT_FLAG
from trainer_module.features import EVAL_SPLIT

BLESSED_FILE, NOT_BLESSED_FILE = 'INFRA_BLESSED', 'INFRA_NOT_BLESSED'  # InfraValidator's markers
TIMEOUT_KEY = 'timeout_seconds'
DEFAULT_TIMEOUT_SECONDS = 900
# TFMA reports accuracy as a float32; the probe counts exactly. Anything beyond rounding is a
# different answer on some example.
ACCURACY_TOLERANCE = 1e-6
PROBE_MODULE = 'components.serving_probe'


def judge(
  result: Dict[str, Any],
  evaluator_accuracy: Optional[float],
  evaluator_examples: Optional[int],
  max_latency_ms: float,
) -> List[str]:
  """Why the probed model must not be pushed; an empty list means it may be."""
  reasons = []
  if result.get('error'):
    return [f'the model did not load and answer in a fresh process: {result["error"]}']
  if not result.get('warmup_requests'):
    reasons.append(
      'the model carries no TF Serving warmup requests (assets.extra/tf_serving_warmup_requests)'
    )
  examples = result.get('examples', 0)
  if evaluator_examples is not None and examples != evaluator_examples:
    reasons.append(
      f'the serving check answered {examples} eval examples, the Evaluator {evaluator_examples}'
    )
  if result.get('disagreements'):
    reasons.append(
      f'classify and serving_default disagree on {result["disagreements"]} of '
      f'{examples} eval examples'
    )
  if not result.get('classes_are_argmax', False):
    reasons.append("classify's classes are not the argmax of its probabilities")
  if result.get('max_probability_sum_error', 1.0) > 1e-3:
    reasons.append(
      f'probabilities do not sum to 1 (off by up to {result.get("max_probability_sum_error")})'
    )
  accuracy = result.get('accuracy_classify')
  if evaluator_accuracy is None:
    reasons.append("the Evaluator's accuracy is missing from its evaluation")
  elif accuracy is None or abs(accuracy - evaluator_accuracy) > ACCURACY_TOLERANCE:
    reasons.append(
      f"classify's accuracy {accuracy} differs from the Evaluator's "
      f'{evaluator_accuracy:.6f} on the same examples'
    )
  if result.get('not_refused'):
    reasons.append(f'classify answers {" and ".join(result["not_refused"])} instead of refusing')
  single = result.get('latency', {}).get('1')
  if single is None:
    reasons.append('single-image latency was not measured')
  elif single['p99_ms'] > max_latency_ms:
    reasons.append(
      f'single-image p99 latency {single["p99_ms"]:.1f} ms is over the bound {max_latency_ms:g} ms'
    )
  return reasons


def _probe_env() -> Dict[str, str]:
  env = project.with_project_on_path(os.environ)
  env.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
  return env


class _Waiting(NamedTuple):
  """A probe process prestart_probe() started, waiting on stdin for its work."""

  proc: subprocess.Popen
  env: Dict[str, str]  # what it was started with
  stderr: Any  # a temporary file


# The one waiting probe no run_probe has taken yet; only the local runner starts one.
_prestarted: Optional[_Waiting] = None


def _usable(waiting: Optional[_Waiting], env: Dict[str, str]) -> bool:
  return waiting is not None and waiting.proc.poll() is None and waiting.env == env


def _discard(waiting: _Waiting) -> None:
  """End of input (a waiting probe exits without work); lets go of its stderr file."""
  for stream in (waiting.proc.stdin, waiting.stderr):
    if stream is not None:
      with contextlib.suppress(OSError, ValueError):
        stream.close()


def prestart_probe() -> None:
  """Starts the probe's process ahead of its work, so that it imports TensorFlow while something
  else runs (the local runner calls this as the Evaluator starts: LocalDagRunner runs one
  component at a time). It loads no model until run_probe hands it one."""
  global _prestarted
  env = _probe_env()
  if _usable(_prestarted, env):
    return
  if _prestarted:
    _discard(_prestarted)
  stderr = tempfile.TemporaryFile()
  proc = subprocess.Popen(
    [sys.executable, '-m', PROBE_MODULE, WAIT_FLAG],
    env=env,
    stdin=subprocess.PIPE,
    stdout=subprocess.DEVNULL,
    stderr=stderr,
  )
  _prestarted = _Waiting(proc, env, stderr)
  atexit.register(_discard, _prestarted)


def _take_prestarted(env: Dict[str, str]) -> Optional[_Waiting]:
  """The waiting probe if it is alive and was started with `env`; any other is told to stop."""
  global _prestarted
  waiting, _prestarted = _prestarted, None
  if _usable(waiting, env):
    return waiting
  if waiting:
    _discard(waiting)
  return None


def _failure(returncode: int, stderr: str) -> str:
  lines = [line for line in stderr.splitlines() if line.strip()]
  errors = [line for line in lines if 'Error' in line or 'error' in line]
  return (errors or lines or [f'exit status {returncode}'])[-1].strip()[:500]


def run_probe(model_dir: str, eval_glob: str, out_path: str, timeout: float) -> Dict[str, Any]:
  """The probe's result, or {'error': one line} when the fresh process failed or hung. Uses the
  process prestart_probe() started when there is one for local files; `prestarted` says which."""
  env = _probe_env()
  args = [model_dir, eval_glob, out_path]
  waiting = None if any('://' in a for a in args) else _take_prestarted(env)
  try:
    if waiting:
      try:
        waiting.proc.communicate((json.dumps(args) + '\n').encode(), timeout=timeout)
      except subprocess.TimeoutExpired:
        waiting.proc.kill()
        waiting.proc.wait()
        raise
      finally:
        waiting.stderr.seek(0)
        stderr = waiting.stderr.read().decode(errors='replace')
        waiting.stderr.close()
      returncode = waiting.proc.returncode
    else:
      proc = subprocess.run(
        [sys.executable, '-m', PROBE_MODULE, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
      )
      returncode, stderr = proc.returncode, proc.stderr
  except subprocess.TimeoutExpired:
    return {'error': f'no answer within {timeout:g} s'}
  if returncode != 0:
    return {'error': _failure(returncode, stderr)}
  with open(out_path) as f:
    return dict(json.load(f), prestarted=bool(waiting))


class ServingCheckSpec(ComponentSpec):
  INPUTS = {
    'examples': ChannelParameter(type=standard_artifacts.Examples),
    'model': ChannelParameter(type=standard_artifacts.Model),
    'evaluation': ChannelParameter(type=standard_artifacts.ModelEvaluation),
  }
  OUTPUTS = {'blessing': ChannelParameter(type=standard_artifacts.InfraBlessing)}
  PARAMETERS = {
    LATENCY_BOUND_MS: ExecutionParameter(type=float),
    TIMEOUT_KEY: ExecutionParameter(type=int, optional=True),
  }


class Executor(base_executor.BaseExecutor):
  def Do(
    self,
    input_dict: Dict[str, List[types.Artifact]],
    output_dict: Dict[str, List[types.Artifact]],
    exec_properties: Dict[str, Any],
  ) -> None:
    bound = check_latency_bound(exec_properties[LATENCY_BOUND_MS])
    timeout = int(exec_properties.get(TIMEOUT_KEY) or DEFAULT_TIMEOUT_SECONDS)
    model = artifact_utils.get_single_instance(input_dict['model'])
    examples = artifact_utils.get_single_instance(input_dict['examples'])
    evaluation = read_evaluation(artifact_utils.get_single_instance(input_dict['evaluation']).uri)
    blessing = artifact_utils.get_single_instance(output_dict['blessing'])
    enable_for(model.uri)

    model_dir = path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))
    eval_glob = os.path.join(artifact_utils.get_split_uri([examples], EVAL_SPLIT), '*')
    with tempfile.TemporaryDirectory(prefix='serving-check-') as tmp:
      result = run_probe(model_dir, eval_glob, os.path.join(tmp, SERVING_RESULT_FILE), timeout)
      if os.path.exists(os.path.join(tmp, ANSWERS_FILE)):
        io_utils.copy_file(
          os.path.join(tmp, ANSWERS_FILE), os.path.join(blessing.uri, ANSWERS_FILE), overwrite=True
        )
    reasons = judge(result, evaluation.accuracy, evaluation.example_count, bound)
    record = dict(
      result,
      evaluator_accuracy=evaluation.accuracy,
      evaluator_examples=evaluation.example_count,
      max_latency_ms=bound,
      passed=not reasons,
      reasons=reasons,
    )
    io_utils.write_string_file(
      os.path.join(blessing.uri, SERVING_RESULT_FILE), json.dumps(record, indent=1, sort_keys=True)
    )
    io_utils.write_string_file(
      os.path.join(blessing.uri, NOT_BLESSED_FILE if reasons else BLESSED_FILE), ''
    )
    blessing.set_int_custom_property(names.BLESSED, 0 if reasons else 1)  # TFX's Pusher reads it
    blessing.set_string_custom_property(names.REASONS, json.dumps(reasons))
    single = result.get('latency', {}).get('1', {})
    for key, name in (('p50_ms', names.LATENCY_P50_MS), ('p99_ms', names.LATENCY_P99_MS)):
      if key in single:
        blessing.set_float_custom_property(name, single[key])
    if 'accuracy_classify' in result:
      blessing.set_float_custom_property('accuracy', result['accuracy_classify'])
    latency = f', p99 {single["p99_ms"]:.1f} ms for one image' if single else ''
    logging.info(names.SERVING_VERDICT_LOG, f'{"NOT servable" if reasons else "servable"}{latency}')
    if reasons:
      logging.warning('ServingCheck: not servable: %s', '; '.join(reasons))


class ServingCheck(base_component.BaseComponent):
  """Loads the candidate in a fresh process as a server would; blesses it only if it answers
  like the Evaluator saw, on both signatures, in time."""

  SPEC_CLASS = ServingCheckSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

  def __init__(
    self,
    examples: types.BaseChannel,
    model: types.BaseChannel,
    evaluation: types.BaseChannel,
    max_latency_ms: float = DEFAULT_LATENCY_BOUND_MS,
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS,
  ):
    spec = ServingCheckSpec(
      examples=examples,
      model=model,
      evaluation=evaluation,
      max_latency_ms=check_latency_bound(max_latency_ms),
      timeout_seconds=timeout_seconds,
      blessing=types.Channel(type=standard_artifacts.InfraBlessing),
    )
    super().__init__(spec=spec)
