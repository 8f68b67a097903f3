"""Runs the MNIST TFX pipeline on this machine (LocalDagRunner, ML Metadata in SQLite).

Exit codes: 0 = blessed and pushed; 3 = ran to the end but not blessed (nothing pushed);
1 = failed (bad input, error); 2 = bad command line.
"""
import argparse
import dataclasses
import os
import sys
import time
import traceback

EXIT_PUSHED = 0
EXIT_FAILED = 1
EXIT_NOT_BLESSED = 3
EXIT_USAGE = 2


def parse_args(argv):
  from pipeline import config as config_lib
  from pipeline.metadata import store as store_lib
  parser = argparse.ArgumentParser(
      description='Run the MNIST TFX pipeline locally: ExampleGen → Trainer → Evaluator → Pusher.',
      epilog='Exit codes: 0 blessed and pushed, 3 not blessed (nothing pushed), 1 failed, 2 usage.')
  parser.add_argument('--output-dir', metavar='DIR', default=config_lib.DEFAULT_OUTPUT_DIR,
                      help='everything lands here: pipeline_root/, serving/, metadata.sqlite '
                      '(default: %(default)s)')
  config_lib.add_arguments(parser)
  store_lib.add_mysql_arguments(parser)
  parser.add_argument('--verbose', action='store_true', help='show full TFX, Beam and TF logs')
  return parser.parse_args(config_lib.join_option_values(list(argv)))


def _root_cause_message(error: BaseException):
  """The one-line message of a data error anywhere in the exception chain, else None."""
  from components.mnist_data import MnistDataError
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    if isinstance(error, MnistDataError):
      return str(error)
    error = error.__cause__ or error.__context__
  return None


def main(argv=None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  from pipeline import console
  console.silence_native_logs('--verbose' in argv)  # before any native library loads
  args = parse_args(argv)

  from components import mnist_data
  from components import mnist_download
  from pipeline import config as config_lib
  started = time.monotonic()
  paths = config_lib.local_paths(args.output_dir)
  try:  # flags that are fine alone but not together; checked before any download
    config = config_lib.config_from_args(args, '', paths['pipeline_root'], paths['serving_dir'])
  except ValueError as e:
    print(f'error: {e}', file=sys.stderr)
    return EXIT_USAGE
  try:
    data_dir = mnist_download.resolve_data_dir(args.data_dir, log=print)
    missing = [f.name for f in mnist_data.ALL_FILES
               if not os.path.exists(os.path.join(data_dir, f.name))] if '://' not in data_dir else []
    if missing:
      raise mnist_data.MnistDataError(f'{", ".join(missing)}: missing from {data_dir}')
  except mnist_data.MnistDataError as e:
    print(f'error: {e}', file=sys.stderr)
    return EXIT_FAILED
  config = dataclasses.replace(config, data_dir=data_dir)

  progress = console.ComponentProgress()
  console.install(args.verbose, progress)
  from tfx import v1 as tfx
  from pipeline.metadata import report
  from pipeline.metadata import runs
  from pipeline.metadata import store as store_lib
  from pipeline.pipeline import create_pipeline

  os.makedirs(paths['output_dir'], exist_ok=True)
  metadata_config = store_lib.mysql_config(args)
  if metadata_config:
    try:  # a wrong password or host is one clear line here, not a failed component later
      store_lib.open_store(metadata_config)
    except store_lib.StoreError as e:
      print(f'error: {e}', file=sys.stderr)
      return EXIT_FAILED
  else:
    metadata_config = store_lib.sqlite_config(paths['metadata_path'], read_only=False)
  print(f'MNIST TFX pipeline: data {data_dir} → {paths["output_dir"]}')
  pipeline = create_pipeline(config, metadata_config)
  try:
    tfx.orchestration.LocalDagRunner().run(pipeline)
  except KeyboardInterrupt:
    print(f'\ninterrupted{f" during {progress.current}" if progress.current else ""}',
          file=sys.stderr)
    return EXIT_FAILED
  except Exception as e:  # pylint: disable=broad-except
    message = _root_cause_message(e)
    if args.verbose:
      traceback.print_exc()
    where = f'{progress.current} failed: ' if progress.current else ''
    if message:
      print(f'error: {message}', file=sys.stderr)
    else:
      print(f'error: {where}{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}'
            f'{"" if args.verbose else " (rerun with --verbose for details)"}', file=sys.stderr)
    return EXIT_FAILED

  store = store_lib.open_store(metadata_config)
  run = runs.runs(store)[0]
  summary = runs.summarize_run(store, run)
  try:
    report_path = report.write_report(store, run, paths['output_dir'], summary)
  except Exception as e:  # pylint: disable=broad-except  # the run itself succeeded
    report_path = f'not written ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""})'
  return print_summary(summary, store_lib.describe(metadata_config), report_path,
                       paths['output_dir'], time.monotonic() - started)


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


if __name__ == '__main__':
  sys.exit(main())
