"""One local run: create_pipeline under TFX's LocalDagRunner as run `run_id`, one progress line
per component, and the run's own record in ML Metadata (pipeline/local/run_record.py): who runs
it, written before the first component, and how it ended and was made, written at its end.

The run's id is chosen here, not by TFX, so that the summary is of this run, whatever else the
store holds."""

import contextlib
import datetime
import os
import time
import traceback
from typing import Any, Dict, List, Optional

from tfx.dsl.compiler import constants
from tfx.orchestration import metadata
from tfx.orchestration.local import local_dag_runner
from tfx.orchestration.portable import runtime_parameter_utils
from tfx.orchestration.portable.mlmd import context_lib

from components import mnist_pusher, serving_check
from components.lib import datasets, names, project, serving_dir
from components.lib.idx import MnistDataError
from pipeline.config import PipelineConfig
from pipeline.local import progress as progress_lib
from pipeline.local import run_record
from pipeline.local.errors import RunError
from pipeline.local.interrupted import set_aside_interrupted_pushes
from pipeline.paths import LocalPaths
from pipeline.pipeline import create_pipeline


def new_run_id() -> str:
  """The form TFX's LocalDagRunner gives its run ids (and the pipeline_run context's name)."""
  return datetime.datetime.now().isoformat()


def _set_run_properties(
  metadata_config, pipeline_name: str, run_id: str, values: Dict[str, Any]
) -> None:
  """Writes custom properties on this run's pipeline_run context, registering it (and its parent
  pipeline context) first exactly as TFX's launcher would, so TFX then finds and uses it."""
  with metadata.Metadata(metadata_config) as handle:
    pipeline_context = context_lib.register_context_if_not_exists(
      handle, constants.PIPELINE_CONTEXT_TYPE_NAME, pipeline_name
    )
    run_context = context_lib.register_context_if_not_exists(
      handle, constants.PIPELINE_RUN_CONTEXT_TYPE_NAME, run_id, parent_contexts=[pipeline_context]
    )
    for key, value in values.items():
      field = (
        'int_value'
        if isinstance(value, int)
        else 'double_value'
        if isinstance(value, float)
        else 'string_value'
      )
      setattr(run_context.custom_properties[key], field, value)
    handle.store.put_contexts([run_context])


def _record_end(
  metadata_config, pipeline_name: str, run_id: str, state: str, seconds: float
) -> None:
  """How the run ended and how its model was made. Best effort: the run is over whatever the
  store says; a reader that finds no end recorded sees the run as interrupted once this process
  is gone."""
  with contextlib.suppress(Exception):
    _set_run_properties(
      metadata_config, pipeline_name, run_id, run_record.end_values(state, seconds)
    )


def _runner_with_run_id(run_id: str) -> local_dag_runner.LocalDagRunner:
  """TFX's LocalDagRunner, but the run gets `run_id` instead of the time LocalDagRunner reads.

  LocalDagRunner.run_with_ir fills the pipeline-run-id runtime parameter with
  datetime.now().isoformat() (tfx/orchestration/local/local_dag_runner.py, 1.16); the same
  substitution done first leaves it nothing to fill."""

  class Runner(local_dag_runner.LocalDagRunner):
    def run_with_ir(self, pipeline, run_options=None, **kwargs):
      runtime_parameter_utils.substitute_runtime_parameter(
        pipeline, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id}
      )
      return super().run_with_ir(pipeline, run_options=run_options, **kwargs)

  return Runner()


def start_early(component_id: str) -> None:
  """Side by side where LocalDagRunner runs one component at a time: as the Evaluator starts, the
  ServingCheck's probe process starts importing TensorFlow (it gets its model only when the
  ServingCheck runs). Never fails the run: without it the ServingCheck starts its own."""
  if component_id == names.EVALUATOR:
    with contextlib.suppress(Exception):
      serving_check.prestart_probe()


def _list_odd_names(serving: str) -> None:
  """Names in the serving dir that a person may misread, each kind on one line; all left alone."""
  ignored = serving_dir.not_versions(serving)
  if ignored:
    print(
      f'Ignored in {serving}: {", ".join(ignored)} (not version numbers: a server loads only '
      'folders named by a plain decimal number)'
    )
  foreign = mnist_pusher.foreign_leftovers(serving)
  if foreign:
    print(
      f'Left alone in {serving}: {", ".join(foreign)} (named like the leftovers of a push, but '
      'no push made them)'
    )


def _root_cause_message(error: Optional[BaseException]) -> Optional[str]:
  """The one-line message of a data error anywhere in the exception chain, else None."""
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    if isinstance(error, MnistDataError):
      return str(error)
    error = error.__cause__ or error.__context__
  return None


def run(
  config: PipelineConfig,
  metadata_config,
  paths: LocalPaths,
  verbose: bool,
  run_id: str,
  started: float,
) -> List[str]:
  """The whole pipeline as run `run_id`; RunError on failure. `started` (time.monotonic()) is
  when the command started, for the recorded total time. Returns where the versions of
  interrupted pushes were moved aside, for the summary."""
  infer = config.infer_dir
  if infer and '://' not in infer and not os.path.isdir(infer):  # TFX's driver would only say
    raise RunError(f'error: --infer-dir {infer}: no such folder')  # 'matches no files'
  # Beam's worker processes unpickle the ExampleGen's transforms by module name.
  project.put_project_on_path(os.environ)
  own = datasets.get(config.dataset).classes_from_data  # not the IDX files: say what is read
  starting = {
    names.EXAMPLE_GEN: f'{names.EXAMPLE_GEN}: checking every file, then writing TFRecords…'
  }
  progress = progress_lib.ComponentProgress(
    on_start=start_early, starting=starting if own else None
  )
  progress_lib.install(verbose, progress)
  print(f'MNIST TFX pipeline: data {config.data_dir} → {paths.output_dir}')
  moved, unvouched = set_aside_interrupted_pushes(
    metadata_config, config.serving_dir, config.pipeline_root, config.pipeline_name
  )
  for version_dir, aside in moved:
    print(
      f'Moved {version_dir} aside to {aside}: an interrupted run pushed it but never '
      'recorded the push (nothing deleted; move it back to serve it)'
    )
  for version_dir, reason in unvouched:
    print(f'Kept {version_dir}: not vouched for by this store ({reason})')
  _list_odd_names(config.serving_dir)

  def end(state: str) -> None:
    _record_end(metadata_config, config.pipeline_name, run_id, state, time.monotonic() - started)

  try:
    _set_run_properties(
      metadata_config,
      config.pipeline_name,
      run_id,
      {**run_record.this_process(), run_record.RUN_STATE: run_record.RUNNING},
    )
    _runner_with_run_id(run_id).run(create_pipeline(config, metadata_config))
  except KeyboardInterrupt:
    end(run_record.INTERRUPTED)
    during = f' during {progress.current}' if progress.current else ''
    raise RunError(f'\ninterrupted{during}') from None
  except Exception as e:  # noqa: BLE001  # any component's failure becomes one line
    end(run_record.FAILED)
    if verbose:
      traceback.print_exc()
    message = _root_cause_message(e)
    if message:
      raise RunError(f'error: {message}') from None
    where = f'{progress.current} failed: ' if progress.current else ''
    first_line = str(e).splitlines()[0] if str(e) else ''
    hint = '' if verbose else ' (rerun with --verbose for details)'
    raise RunError(f'error: {where}{type(e).__name__}: {first_line}{hint}') from None
  end(run_record.COMPLETE)
  return [aside for _, aside in moved]
