"""mnist-tfx inspect: read what the pipeline recorded. It never writes to a store: SQLite is opened
read-only, and a store a killed run left half-written is read from a rolled-back copy.

  runs                       every run, newest first, with its state (running, complete,
                             failed, or interrupted: its process ended mid-run) and key settings
  compare [RUN_A RUN_B]      two runs side by side (default: the last two): settings with the
                             differences marked, accuracy, per-class changes, what each pushed
  artifacts [--type T] [--run R]
  lineage VERSION|ARTIFACT_ID
  report [RUN]               (re)build a run's HTML report and the output dir's index.html
  served [--newest]          the versions in the serving dir (--newest: only the newest one's
                             folder, e.g. for saved_model_cli --dir "$(…)")

The store: --output-dir D (its metadata.sqlite), --demo (the smoke run's), --sqlite PATH, MySQL
(--mysql-host …; password from $MLMD_MYSQL_PASSWORD) or an ML Metadata gRPC service (--grpc-host
…, as on Kubeflow). --json prints JSON instead of tables. Options go before or after the command.
"""

import argparse
import datetime
import json
import os
import sys
from typing import Any, Dict, List

from ml_metadata import errors
from ml_metadata.proto import metadata_store_pb2

from components.lib import serving_dir
from inspection import compare, lineage, render, runs
from pipeline import console, secrets
from pipeline import store as store_lib
from pipeline.commands import PROG, ExitCode
from pipeline.flags import port_number
from pipeline.paths import DEFAULT_OUTPUT_DIR, DEMO_OUTPUT_DIR, LocalPaths, output_dir_of

PROG_NAME = f'{PROG} inspect'
GRPC_PORT = 8080  # Kubeflow's metadata-grpc-service


def _common_options(parser: argparse.ArgumentParser, defaults: bool) -> None:
  """The store and output options; on each command too (without defaults, so that a value given
  before the command stands unless repeated after it)."""

  def default(value):
    return value if defaults else argparse.SUPPRESS

  where = parser.add_argument_group('store (default: <output-dir>/metadata.sqlite)')
  where.add_argument(
    '--output-dir',
    default=default(None),
    metavar='DIR',
    help=f"a local run's output dir (default: {DEFAULT_OUTPUT_DIR})",
  )
  where.add_argument(
    '--demo',
    action='store_true',
    default=default(False),
    help=f"the smoke run's output dir ({DEMO_OUTPUT_DIR})",
  )
  where.add_argument(
    '--sqlite', metavar='PATH', default=default(None), help='an ML Metadata SQLite file anywhere'
  )
  where.add_argument(
    '--grpc-host',
    metavar='HOST',
    default=default(None),
    help="an ML Metadata gRPC service, e.g. Kubeflow's metadata-grpc-service",
  )
  where.add_argument(
    '--grpc-port',
    type=port_number,
    default=default(GRPC_PORT),
    metavar='PORT',
    help=f'its port (default: {GRPC_PORT})',
  )
  store_lib.add_mysql_arguments(parser, defaults=defaults)
  parser.add_argument('--json', action='store_true', help='print JSON', default=default(False))


def _parser(prog: str = PROG_NAME) -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
    prog=prog,
    description=__doc__.split('\n\n')[0],
    formatter_class=argparse.RawDescriptionHelpFormatter,
    epilog=__doc__.split('\n\n', 1)[1],
  )
  _common_options(parser, defaults=True)
  commands = parser.add_subparsers(dest='command', required=True)

  def command(name, **kwargs):
    sub = commands.add_parser(name, **kwargs)
    _common_options(sub, defaults=False)
    return sub

  command('runs', help='every pipeline run, newest first')
  compare_cmd = command('compare', help='two runs side by side (default: the last two)')
  compare_cmd.add_argument('run_ids', nargs='*', metavar='RUN', help='two run ids (see `runs`)')
  artifacts = command('artifacts', help='artifacts with the properties that matter')
  artifacts.add_argument('--type', help='only this type, e.g. Model, Examples, PushedModel')
  artifacts.add_argument('--run', help='only artifacts of this run id')
  lineage_cmd = command('lineage', help='what a pushed model (or any artifact) came from')
  lineage_cmd.add_argument('key', metavar='VERSION|ARTIFACT_ID')
  report = command('report', help="(re)build a run's HTML report and the index of all runs")
  report.add_argument('run', nargs='?', help='run id (default: the newest run)')
  served = command('served', help='the versions in the serving dir, oldest first')
  served.add_argument(
    '--newest', action='store_true', help="print only the newest servable version's folder"
  )
  return parser


def connection(args):
  mysql = store_lib.mysql_config(args)
  if mysql:
    return mysql
  if args.grpc_host:
    return metadata_store_pb2.MetadataStoreClientConfig(host=args.grpc_host, port=args.grpc_port)
  path = args.sqlite or LocalPaths.under(args.output_dir).metadata_path
  return store_lib.sqlite_config(os.path.abspath(path), read_only=True)


def cmd_runs(store, args):
  summaries = [runs.summarize_run(store, run).to_json() for run in runs.runs(store)]
  return summaries if args.json else render.runs_table(summaries)


def cmd_compare(store, args):
  result = compare.compare(store, args.run_ids)
  return result if args.json else '\n'.join(render.compare_lines(result))


def cmd_artifacts(store, args):
  items = lineage.list_artifacts(store, kind=args.type, run_id=args.run)
  return items if args.json else render.artifacts_table(items)


def cmd_lineage(store, args):
  tree = lineage.lineage(store, args.key)
  return tree if args.json else '\n'.join(render.lineage_lines(tree))


def cmd_report(store, args):
  # Deferred: writing a report reads the run's TFRecords with TensorFlow (seconds to import),
  # which the other commands never need.
  from inspection import report

  all_runs = runs.runs(store)
  chosen = [c for c in all_runs if c.name == args.run] if args.run else all_runs[:1]
  if not chosen:
    raise LookupError(f'{args.run or "(newest)"}: no such run in this store')
  path = report.write_report(store, chosen[0], args.output_dir)
  index = report.index_path(args.output_dir)
  return {'report': path, 'index': index} if args.json else f'Report: {path}\nIndex:  {index}'


def served_versions(serving: str) -> List[Dict[str, Any]]:
  """Each version in a serving dir with what it was pushed from (its provenance record)."""
  found = []
  for version in serving_dir.versions(serving):
    path = serving_dir.version_dir(serving, version)
    record = serving_dir.provenance(path)
    pushed_at = record.get('pushed_at')
    found.append(
      {
        'version': version,
        'dir': path,
        'model_uri': record.get(serving_dir.MODEL_URI),
        'pushed_at': datetime.datetime.fromtimestamp(pushed_at).isoformat(timespec='seconds')
        if isinstance(pushed_at, (int, float))
        else None,
      }
    )
  return found


def cmd_served(args):
  """Reads the serving dir only: no store is opened."""
  serving = LocalPaths.under(args.output_dir).serving_dir
  if args.newest:
    newest = serving_dir.newest_servable(serving)
    if newest is None:
      raise LookupError(f'{serving}: no servable version (run the pipeline first)')
    return {'dir': newest[0], 'version': newest[1]} if args.json else newest[0]
  found = served_versions(serving)
  ignored = serving_dir.not_versions(serving)
  if ignored:  # on stderr: what stdout holds stays the same for a script
    print(
      f'Ignored in {serving}: {", ".join(ignored)} (not version numbers: a server loads only '
      'folders named by a plain decimal number)',
      file=sys.stderr,
    )
  return found if args.json else render.served_table(found, serving)


STORE_COMMANDS = {
  'runs': cmd_runs,
  'compare': cmd_compare,
  'artifacts': cmd_artifacts,
  'lineage': cmd_lineage,
  'report': cmd_report,
}


def main(argv=None, prog: str = PROG_NAME) -> int:
  argv = sys.argv[1:] if argv is None else argv
  with secrets.protect_output(argv):  # e.g. a MySQL password in an error message
    return _main(argv, prog)


def _main(argv, prog) -> int:
  args = _parser(prog).parse_args(argv)
  args.output_dir = output_dir_of(args)
  console.quiet_python_logs()
  try:
    if args.command == 'served':
      output = cmd_served(args)
    else:
      store = store_lib.open_store(connection(args))
      output = STORE_COMMANDS[args.command](store, args)
  except (store_lib.StoreError, LookupError) as e:  # LineageError and CompareError are lookups
    print(f'error: {console.printable(str(e.args[0] if e.args else e))}', file=sys.stderr)
    return ExitCode.FAILED
  except errors.StatusError as e:  # e.g. a page the quick check did not reach is damaged
    print(
      f'error: {store_lib.describe(connection(args))}: reading the ML Metadata store failed '
      f'({store_lib.error_line(e)})',
      file=sys.stderr,
    )
    return ExitCode.FAILED
  print(json.dumps(output, indent=1, default=str) if args.json else output)
  return ExitCode.OK
