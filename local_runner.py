"""Runs the MNIST TFX pipeline on this machine (LocalDagRunner, ML Metadata in SQLite or MySQL).

Intentionally short: flags → PipelineConfig → run → summary; the work is in pipeline/local/ and
the summary in inspection/summary.py. Exit codes: pipeline/commands.py ExitCode.
"""

import argparse
import sys
import time

from components.lib import data_identity
from pipeline import config as config_lib
from pipeline import console, flags, paths, secrets
from pipeline.commands import ExitCode
from pipeline.local import lock
from pipeline.local.errors import RunError


def parse_args(argv, prog=None) -> argparse.Namespace:
  # Deferred: it imports ML Metadata, whose native library reads its log level as it loads,
  # after _main() set it.
  from pipeline import store as store_lib

  parser = argparse.ArgumentParser(
    prog=prog,
    description='Run the MNIST TFX pipeline locally: '
    'ExampleGen → data validation → Trainer → Evaluator → ServingCheck → Pusher.',
    epilog='Exit codes: 0 blessed and pushed (or already served), 3 not blessed or failed the '
    'serving check (nothing pushed), 1 failed, 2 usage.',
  )
  parser.add_argument(
    '--output-dir',
    metavar='DIR',
    help='everything lands here: pipeline_root/, serving/, metadata.sqlite '
    f'(default: {paths.DEFAULT_OUTPUT_DIR})',
  )
  paths.add_demo_argument(
    parser,
    'the smoke run: --train-examples {train_examples} '
    '--eval-examples {eval_examples} --epochs {epochs} '
    '--accuracy-threshold {accuracy_threshold} (flags given stand), '
    'into'.format(**config_lib.DEMO_SETTINGS),
  )
  flags.add_arguments(parser)
  store_lib.add_mysql_arguments(parser)
  parser.add_argument(
    '--fresh-store',
    action='store_true',
    help="when the output dir's metadata.sqlite is no sound store (corrupt, empty, another "
    'database, not a regular file), or missing while serving/ holds versions: start a new '
    'store (the old file is moved aside to metadata.sqlite.TIME.bak; its runs write into a '
    'pipeline root of their own; the versions and every earlier file are kept)',
  )
  parser.add_argument('--verbose', action='store_true', help='show full TFX, Beam and TF logs')
  argv = flags.join_option_values(list(argv))
  args = parser.parse_args(argv)
  if args.demo:  # the smoke run's settings become the defaults; flags given still stand
    parser.set_defaults(**config_lib.DEMO_SETTINGS)
    args = parser.parse_args(argv)
  for name, value in vars(args).items():
    if isinstance(value, list):  # argparse turns `--epochs=--` into [] without calling its type
      parser.error(f'argument --{name.replace("_", "-")}: expected one value, got {value or "--"}')
  return args


def main(argv=None, prog=None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  with secrets.protect_output(argv):  # no secret printed from here on, --verbose included
    return _main(argv, prog)


def _main(argv, prog) -> int:
  console.silence_native_logs('--verbose' in argv)  # before any native library loads
  args = parse_args(argv, prog)
  started = time.monotonic()
  try:
    out = paths.LocalPaths.under(paths.check_local_output_dir(paths.output_dir_of(args)))
    for flag in ('--data-dir', '--infer-dir'):
      secrets.refuse_userinfo(flag, getattr(args, flag[2:].replace('-', '_')))
    config_lib.training_from_args(args)  # flags that clash are refused before any download
  except ValueError as e:
    print(f'error: {e}', file=sys.stderr)
    return ExitCode.USAGE
  # Deferred until the command line is known to be good: TFX, TensorFlow and TFMA take about
  # 8 s to import, which --help and a usage error need not wait for; and their native libraries
  # (ML Metadata's too) must load after silence_native_logs above.
  from inspection import summary
  from pipeline.local import preflight, run

  run_id = run.new_run_id()
  try:
    with lock.OutputDirLock(out, run_id):  # one run per output dir; before anything is written
      moved_store = preflight.check_output_dir(
        out, sqlite=not args.mysql_host, fresh_store=args.fresh_store
      )
      if moved_store:
        print(f'Moved the ML Metadata store aside to {moved_store}; starting a new one')
      metadata_config = preflight.metadata_connection(args, out)
      identity = data_identity.of_dataset(args.dataset)
      preflight.check_data_set(metadata_config, out, identity)  # before any data is read
      data_dir = preflight.find_data(args.data_dir, args.dataset)
      root, new_root = preflight.pipeline_root(metadata_config, out, identity)
      if new_root:
        print(
          f'Pipeline root: {root} (a new store writes beside the files of the earlier one, '
          'which stay as they are)'
        )
      config = config_lib.config_from_args(args, data_dir, root, out.serving_dir)
      set_aside = run.run(config, metadata_config, out, args.verbose, run_id, started)
      return summary.report_and_summary(metadata_config, out, started, run_id, set_aside)
  except RunError as e:
    print(e.line, file=sys.stderr)
    return e.exit_code
  except KeyboardInterrupt:  # before the pipeline started (during a download, say)
    print('\ninterrupted', file=sys.stderr)
    return ExitCode.FAILED


if __name__ == '__main__':
  sys.exit(console.closed_pipe_safe(main))
