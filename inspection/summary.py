"""The one screen a local run ends with: the verdicts, where everything went, and the commands to
go on with (each runs as printed, from any directory: absolute paths, the real version, a few of
the run's own images). Read from ML Metadata like everything else the read side shows; the run's
report is written first."""

import os
import shlex
import sys
import time
from typing import Dict, Optional, Sequence, Tuple

from ml_metadata.proto import metadata_store_pb2

from components.lib import names
from inspection import report, runs
from pipeline import store as store_lib
from pipeline.commands import ExitCode, command
from pipeline.local.errors import RunError
from pipeline.paths import LocalPaths


def report_and_summary(
  metadata_config, paths: LocalPaths, started: float, run_id: str, set_aside: Sequence[str] = ()
) -> int:
  """Writes run `run_id`'s HTML report, prints its summary; returns the exit code. Always this
  run, never merely the newest in the store (another output dir may share a MySQL store)."""
  store = store_lib.open_store(metadata_config)
  run_context = runs.run_context(store, run_id)
  if run_context is None:
    raise RunError(f'error: run {run_id} is missing from {store_lib.describe(metadata_config)}')
  summary = runs.summarize_run(store, run_context)
  examples: Tuple[Optional[str], str] = (None, '')
  try:
    report_path = report.write_report(store, run_context, paths.output_dir, summary)
    examples = report.write_try_examples(store, summary, paths.output_dir)
  except Exception as e:  # noqa: BLE001  # the run itself succeeded: say why, go on
    report_path = f'not written ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""})'
  commands = summary_commands(
    summary,
    paths.output_dir,
    *examples,
    runs_in_store=len(runs.runs(store)),
    store_options=store_lib.store_options(metadata_config),
  )
  return print_summary(
    summary,
    store_lib.describe(metadata_config),
    report_path,
    paths.output_dir,
    time.monotonic() - started,
    commands,
    set_aside,
    unchanged_since=pushing_run(store, summary),
  )


def pushing_run(store, summary) -> Optional[str]:
  """When this run's Pusher was cached: the id of the run whose Pusher pushed the version that
  serves the model (the first execution to output its PushedModel); else None."""
  pushed = summary.artifacts.get('PushedModel')
  if (
    not summary.already_serving
    or summary.component_states.get(names.PUSHER) != 'CACHED'
    or not pushed
  ):
    return None
  made = sorted(
    e.execution_id
    for e in store.get_events_by_artifact_ids([pushed])
    if e.type == metadata_store_pb2.Event.OUTPUT
  )
  for context in store.get_contexts_by_execution(made[0]) if made else ():
    if store.get_context_types_by_id([context.type_id])[0].name in runs.RUN_CONTEXT_TYPES:
      return context.name
  return None


def print_summary(
  summary: runs.RunSummary,
  metadata: str,
  report_path,
  output_dir,
  seconds,
  commands=None,
  set_aside: Sequence[str] = (),
  unchanged_since: Optional[str] = None,
) -> int:
  print('-' * 60)
  for aside in set_aside:
    print(f'Set aside:       {aside} (an interrupted push, not served; move it back to serve it)')
  if summary.accuracy is not None:
    baseline = (
      f' (last blessed model: {summary.baseline_accuracy:.4f})'
      if summary.baseline_accuracy is not None
      else ''
    )
    print(f'Test accuracy:   {summary.accuracy:.4f}{baseline}')
  if summary.blessed:
    print('Blessed:         yes')
  else:
    print('Blessed:         no — ' + ('; '.join(summary.failures) or 'see the Evaluator output'))
  if summary.servable:
    latency = summary.serving_latency_ms
    print(
      'Serving check:   passed'
      + (
        f' — one image in {latency["p50_ms"]:.1f} ms (p50), {latency["p99_ms"]:.1f} ms (p99)'
        if latency
        else ''
      )
    )
  elif summary.servable is False:
    print(
      'Serving check:   FAILED — '
      + ('; '.join(summary.serving_failures) or 'see the ServingCheck output')
    )
  if summary.pushed_version:
    print(f'Pushed:          {summary.pushed_dir} (version {summary.pushed_version})')
  elif summary.already_serving and unchanged_since:
    print(
      f'Pushed:          nothing new — unchanged since run {unchanged_since}, version '
      f'{summary.already_serving} serves it ({summary.pushed_dir})'
    )
  elif summary.already_serving:
    print(
      f'Pushed:          nothing new — version {summary.already_serving} already serves this '
      f'model ({summary.pushed_dir})'
    )
  else:
    print('Pushed:          nothing (the model being served, if any, is unchanged)')
  if summary.predictions:
    print(f'Predictions:     {summary.predictions}')
  elif summary.predictions_note:
    print(f'Predictions:     none — {summary.predictions_note}')
  print(f'ML Metadata:     {metadata} (run {summary.run_id})')
  print(f'Report:          {report_path}')
  print(f'Total time:      {seconds:.0f} s')
  commands = summary_commands(summary, output_dir) if commands is None else commands
  for label, line in commands.items():  # each runs as printed, from any directory
    print(f'{label + ":":<17}{line}')
  if summary.pushed_version or summary.already_serving:
    return ExitCode.OK
  return ExitCode.NOT_PUSHED


def summary_commands(
  summary,
  output_dir: str,
  examples: Optional[str] = None,
  example_labels: str = '',
  runs_in_store: int = 1,
  store_options: str = '',
) -> Dict[str, str]:
  """{label: command} for the summary's last lines; `examples` is an .npy of eval examples
  (report.write_try_examples); `compare` is offered once the store holds two runs;
  `store_options` reach a store other than the output dir's SQLite (store.store_options)."""
  output_dir = os.path.abspath(output_dir)
  inspect = f'{command("inspect")} --output-dir {shlex.quote(output_dir)}' + (
    f' {store_options}' if store_options else ''
  )
  version = summary.pushed_version or summary.already_serving
  lines = {'Inspect': f'{inspect} ' + (f'lineage {version}' if version else 'runs')}
  if summary.predictions and '://' not in summary.predictions:
    lines['Predicted by'] = f'{inspect} lineage {shlex.quote(summary.predictions)}'

  if runs_in_store >= 2:
    lines['Compare'] = f'{inspect} compare'
  model_run = summary.uris.get('ModelRun')
  if model_run and '://' not in model_run:
    tensorboard = os.path.join(os.path.dirname(os.path.abspath(sys.executable)), 'tensorboard')
    if os.path.exists(tensorboard):
      lines['TensorBoard'] = (
        f'{tensorboard} --logdir {shlex.quote(os.path.dirname(model_run))} '
        '  # then open http://localhost:6006'
      )
  if version and summary.pushed_dir and examples:
    lines['Try it'] = (
      f'{command("predict")} --model {shlex.quote(os.path.abspath(summary.pushed_dir))} '
      f'{shlex.quote(examples)}' + (f'  # true: {example_labels}' if example_labels else '')
    )
  return lines
