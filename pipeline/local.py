"""Running the pipeline on this machine: the data pre-flight, the ML Metadata store, the run with
its progress lines, and the one-screen summary. local_runner.py is only the command line.

Exit codes: 0 = blessed (pushed, or already served); 3 = ran to the end but not blessed (nothing
pushed); 1 = failed (bad input, error); 2 = bad command line.
"""
import os
import sys
import time
import traceback
from typing import Optional

from pipeline import console
from pipeline.config import LocalPaths, PipelineConfig

EXIT_PUSHED = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_BLESSED = 3


class RunError(Exception):
  """Ends a run: `line` is what the person sees on stderr, `exit_code` what the shell gets."""

  def __init__(self, line: str, exit_code: int = EXIT_FAILED):
    super().__init__(line)
    self.line, self.exit_code = line, exit_code


def find_data(data_dir: Optional[str]) -> str:
  """--data-dir, else $MNIST_DATA_DIR, else the download cache (downloading if needed)."""
  from components import mnist_data
  from components import mnist_download
  try:
    found = mnist_download.resolve_data_dir(data_dir, log=print)
    if not mnist_data.is_remote(found):
      missing = [f.name for f in mnist_data.ALL_FILES if not os.path.exists(os.path.join(found, f.name))]
      if missing:
        raise mnist_data.MnistDataError(f'{", ".join(missing)}: missing from {found}')
    return found
  except mnist_data.MnistDataError as e:
    raise RunError(f'error: {e}') from None


def metadata_connection(args, paths: LocalPaths):
  """MySQL when --mysql-host is given (checked now: a wrong password is one line here, not a
  failed component later), else the output dir's SQLite file."""
  from pipeline.metadata import store as store_lib
  mysql = store_lib.mysql_config(args)
  if not mysql:
    return store_lib.sqlite_config(paths.metadata_path, read_only=False)
  try:
    store_lib.open_store(mysql)
  except store_lib.StoreError as e:
    raise RunError(f'error: {e}') from None
  return mysql


def _root_cause_message(error: BaseException) -> Optional[str]:
  """The one-line message of a data error anywhere in the exception chain, else None."""
  from components.mnist_data import MnistDataError
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    if isinstance(error, MnistDataError):
      return str(error)
    error = error.__cause__ or error.__context__
  return None


def run(config: PipelineConfig, metadata_config, paths: LocalPaths, verbose: bool) -> None:
  """create_pipeline + LocalDagRunner, one progress line per component; RunError on failure."""
  progress = console.ComponentProgress()
  console.install(verbose, progress)
  from tfx import v1 as tfx
  from pipeline.pipeline import create_pipeline
  os.makedirs(paths.output_dir, exist_ok=True)
  print(f'MNIST TFX pipeline: data {config.data_dir} → {paths.output_dir}')
  try:
    tfx.orchestration.LocalDagRunner().run(create_pipeline(config, metadata_config))
  except KeyboardInterrupt:
    raise RunError(f'\ninterrupted{f" during {progress.current}" if progress.current else ""}') from None
  except Exception as e:  # pylint: disable=broad-except
    if verbose:
      traceback.print_exc()
    message = _root_cause_message(e)
    if message:
      raise RunError(f'error: {message}') from None
    where = f'{progress.current} failed: ' if progress.current else ''
    raise RunError(f'error: {where}{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}'
                   f'{"" if verbose else " (rerun with --verbose for details)"}') from None


def report_and_summary(metadata_config, paths: LocalPaths, started: float) -> int:
  """Writes the newest run's HTML report, prints its summary; returns the exit code."""
  from pipeline.metadata import report
  from pipeline.metadata import runs
  from pipeline.metadata import store as store_lib
  store = store_lib.open_store(metadata_config)
  run_context = runs.runs(store)[0]
  summary = runs.summarize_run(store, run_context)
  try:
    report_path = report.write_report(store, run_context, paths.output_dir, summary)
  except Exception as e:  # pylint: disable=broad-except  # the run itself succeeded
    report_path = f'not written ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""})'
  return print_summary(summary, store_lib.describe(metadata_config), report_path,
                       paths.output_dir, time.monotonic() - started)


def print_summary(summary, metadata, report_path, output_dir, seconds) -> int:
  print('-' * 60)
  if summary.accuracy is not None:
    baseline = (f' (last blessed model: {summary.baseline_accuracy:.4f})'
                if summary.baseline_accuracy is not None else '')
    print(f'Test accuracy:   {summary.accuracy:.4f}{baseline}')
  if summary.blessed:
    print('Blessed:         yes')
  else:
    print('Blessed:         no — ' + ('; '.join(summary.failures) or 'see the Evaluator output'))
  if summary.pushed_version:
    print(f'Pushed:          {summary.pushed_dir} (version {summary.pushed_version})')
  elif summary.already_serving:
    print(f'Pushed:          nothing new — version {summary.already_serving} already serves this '
          f'model ({summary.pushed_dir})')
  else:
    print('Pushed:          nothing (the model being served, if any, is unchanged)')
  print(f'ML Metadata:     {metadata} (run {summary.run_id})')
  print(f'Report:          {report_path}')
  python = min(sys.executable, os.path.relpath(sys.executable), key=len)
  print(f'Inspect:         {python} -m pipeline.metadata --output-dir '
        f'{output_dir} runs | lineage VERSION')
  print(f'Total time:      {seconds:.0f} s')
  if summary.pushed_version or summary.already_serving:
    from trainer_module import SEED_EXAMPLES_NPY
    examples = os.path.relpath(SEED_EXAMPLES_NPY) if os.path.exists(SEED_EXAMPLES_NPY) else 'IMAGES.npy'
    cli = os.path.join(os.path.dirname(python), 'saved_model_cli')
    print(f'Try it:          {cli} run --dir '
          f'{summary.pushed_dir} --tag_set serve --signature_def classify --inputs image={examples}')
    return EXIT_PUSHED
  return EXIT_NOT_BLESSED
