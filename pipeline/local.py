"""Running the pipeline on this machine: the output dir and its lock, the data pre-flight, the ML
Metadata store, the run with its progress lines, and the one-screen summary of that run.
local_runner.py is only the command line.

One run per output dir at a time: OutputDirLock holds an flock on <output dir>/.run.lock for the
whole run (the kernel drops it when the process ends, however it ends). The run's id is chosen
here, not by TFX, so that the summary is of this run, whatever else the store holds.

Exit codes: 0 = blessed (pushed, or already served); 3 = ran to the end but not blessed (nothing
pushed); 1 = failed (bad input, error, output dir in use); 2 = bad command line.
"""
import contextlib
import datetime
import fcntl
import json
import os
import socket
import time
import traceback
from typing import Any, Dict, List, Optional, Sequence

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


def new_run_id() -> str:
  """The form TFX's LocalDagRunner gives its run ids (and the pipeline_run context's name)."""
  return datetime.datetime.now().isoformat()


def _not_a_directory(path: str) -> Optional[str]:
  """The path itself or the first of its parents that exists and is not a directory."""
  probe = path
  while probe and probe != os.path.dirname(probe):
    if os.path.lexists(probe):
      return None if os.path.isdir(probe) else probe
    probe = os.path.dirname(probe)
  return None


class OutputDirLock:
  """`with OutputDirLock(paths, run_id):` — this process is the one run writing to the output
  dir, or RunError (exit 1) naming the run that is. Made before anything is written there."""

  # A reader probing the lock (python -m inspection) holds it for microseconds: a run
  # that finds it taken looks again for this long before it gives up.
  PATIENCE_S = 0.5

  def __init__(self, paths: LocalPaths, run_id: str):
    self.paths, self.run_id = paths, run_id
    self._fd: Optional[int] = None

  def __enter__(self) -> 'OutputDirLock':
    output_dir = self.paths.output_dir
    try:
      os.makedirs(output_dir, exist_ok=True)
      self._fd = os.open(self.paths.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as e:
      blocker = _not_a_directory(output_dir)
      if blocker:
        what = 'it is a file' if blocker == output_dir else f'{blocker} is a file'
        raise RunError(f'error: --output-dir {output_dir}: {what}, not a directory', EXIT_USAGE) from None
      if os.path.lexists(self.paths.lock_path) and os.access(output_dir, os.W_OK | os.X_OK):
        raise RunError(f'error: {self.paths.lock_path}: this output dir\'s run lock cannot be opened '
                       f'({e.strerror or type(e).__name__}); if no run is using {output_dir}, remove it '
                       f'(rm -r {self.paths.lock_path}) and rerun') from None
      raise RunError(f'error: --output-dir {output_dir}: cannot write there '
                     f'({e.strerror or type(e).__name__}); choose a directory you can write to') from None
    deadline = time.monotonic() + self.PATIENCE_S
    while True:
      try:
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        break
      except BlockingIOError:
        if time.monotonic() < deadline:
          time.sleep(0.05)
          continue
        holder = _read_holder(self._fd)
        os.close(self._fd)
        self._fd = None
        raise RunError(f'error: {output_dir} is in use by another run ({describe_holder(holder)}); '
                       'wait for it to end, or pass another --output-dir') from None
    record = {'pid': os.getpid(), 'host': socket.gethostname(), 'run_id': self.run_id,
              'started': datetime.datetime.now().isoformat(timespec='seconds')}
    os.ftruncate(self._fd, 0)
    os.pwrite(self._fd, (json.dumps(record) + '\n').encode(), 0)
    return self

  def __exit__(self, *exc) -> None:
    if self._fd is not None:
      with contextlib.suppress(OSError):
        os.ftruncate(self._fd, 0)  # the run is over: its record goes with the lock
      os.close(self._fd)  # closing it releases the flock
      self._fd = None


def _read_holder(fd: int) -> Dict[str, Any]:
  """What the holder wrote into the lock file; {} if it has not written yet."""
  for _ in range(10):  # the holder writes right after it takes the lock
    try:
      text = os.pread(fd, 4096, 0).decode()
      if text.strip():
        return json.loads(text)
    except (ValueError, OSError):
      pass
    time.sleep(0.05)
  return {}


def describe_holder(holder: Dict[str, Any]) -> str:
  if not holder.get('pid'):
    return 'pid unknown'
  where = '' if holder.get('host') in (None, socket.gethostname()) else f' on {holder["host"]}'
  text = f'pid {holder["pid"]}{where}'
  if holder.get('started'):
    text += f', started {holder["started"]}'
  if holder.get('run_id'):
    text += f', run {holder["run_id"]}'
  return text


def lock_holder(output_dir: str) -> Optional[Dict[str, Any]]:
  """None when no run holds the output dir; else what the run holding it wrote (maybe {})."""
  try:
    fd = os.open(LocalPaths(output_dir).lock_path, os.O_RDONLY | os.O_CLOEXEC)
  except OSError:
    return None  # no lock file: no run ever started here
  try:
    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    fcntl.flock(fd, fcntl.LOCK_UN)
    return None
  except BlockingIOError:
    return _read_holder(fd)
  finally:
    os.close(fd)


def find_data(data_dir: Optional[str], dataset: Optional[str] = None) -> str:
  """--data-dir, else the data set's own places ($MNIST_DATA_DIR, …), else the download cache."""
  from components.lib import datasets
  from components.lib import idx
  from components.lib import download
  from components.lib import object_storage
  try:
    spec = datasets.get(dataset)
    problem = object_storage.problem(data_dir) if data_dir else None  # before TF loads, TFX starts
    if problem:
      raise idx.MnistDataError(f'{data_dir}: {problem}')
    found = download.resolve_data_dir(data_dir, log=print, dataset=spec)
    problem = object_storage.problem(found) if found != data_dir else None  # from $MNIST_DATA_DIR
    if problem:
      raise idx.MnistDataError(f'{found}: {problem}')
    if not idx.is_remote(found):
      missing = [f.name for f in spec.all_files if not os.path.exists(os.path.join(found, f.name))]
      if missing:
        raise idx.MnistDataError(f'{", ".join(missing)}: missing from {found}')
    return found
  except idx.MnistDataError as e:
    raise RunError(f'error: {e}') from None


def _versions_in(serving_dir: str) -> List[str]:
  return sorted((name for name in os.listdir(serving_dir) if name.isascii() and name.isdigit()), key=int)


def check_output_dir(paths: LocalPaths, sqlite: bool, fresh_store: bool = False) -> Optional[str]:
  """One line and a way out (RunError) for an output dir a run cannot use as it is: serving/
  that is not a folder; an SQLite store that is corrupt, or missing while serving/ holds
  versions (a fresh store could not vouch for them). With `fresh_store`, a corrupt or missing
  store is replaced by a new one; the old file is moved aside, never deleted, and the versions
  are kept. Returns where the old store went, if it was moved. Run under the output dir's lock."""
  serving = paths.serving_dir
  if os.path.lexists(serving) and not os.path.isdir(serving):
    raise RunError(f'error: {serving} is a file, not the serving folder; move it aside '
                   f'(mv {serving} {serving}.bak) and rerun')
  if not sqlite:
    return None
  store = paths.metadata_path
  versions = _versions_in(serving) if os.path.isdir(serving) else []
  if os.path.lexists(store):
    from pipeline import store as store_lib
    problem = store_lib.sqlite_problem(store)
  else:
    problem = f'missing while {serving} holds versions {", ".join(versions)}' if versions else None
  if problem is None:
    return None
  if not fresh_store:
    move = (f'move it aside (mv {store} {store}.bak) or ' if os.path.lexists(store) else 'restore it, or ')
    raise RunError(f'error: ML Metadata store {store} is {problem}: {move}rerun with --fresh-store '
                   'to start a new store (the versions in serving/ are kept)')
  from ml_metadata import metadata_store
  from pipeline import store as store_lib
  moved = None
  if os.path.lexists(store):
    moved = f'{store}.{datetime.datetime.now().strftime("%Y%m%dT%H%M%S")}.bak'
    os.rename(store, moved)
    with contextlib.suppress(FileNotFoundError):
      os.rename(store + store_lib.JOURNAL_SUFFIX, moved + store_lib.JOURNAL_SUFFIX)
  metadata_store.MetadataStore(store_lib.sqlite_config(store, read_only=False))  # creates it
  return moved


def metadata_connection(args, paths: LocalPaths):
  """MySQL when --mysql-host is given (checked now: a wrong password is one line here, not a
  failed component later), else the output dir's SQLite file."""
  from pipeline import store as store_lib
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
  from components.lib.idx import MnistDataError
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    if isinstance(error, MnistDataError):
      return str(error)
    error = error.__cause__ or error.__context__
  return None


def _set_run_properties(metadata_config, pipeline_name: str, run_id: str, values: Dict[str, Any]) -> None:
  """Writes custom properties on this run's pipeline_run context, registering it (and its parent
  pipeline context) first exactly as TFX's launcher would, so TFX then finds and uses it."""
  from tfx.dsl.compiler import constants
  from tfx.orchestration import metadata
  from tfx.orchestration.portable.mlmd import context_lib
  with metadata.Metadata(metadata_config) as handle:
    pipeline_context = context_lib.register_context_if_not_exists(
        handle, constants.PIPELINE_CONTEXT_TYPE_NAME, pipeline_name)
    run_context = context_lib.register_context_if_not_exists(
        handle, constants.PIPELINE_RUN_CONTEXT_TYPE_NAME, run_id, parent_contexts=[pipeline_context])
    for key, value in values.items():
      field = 'int_value' if isinstance(value, int) else 'string_value'
      setattr(run_context.custom_properties[key], field, value)
    handle.store.put_contexts([run_context])


def _record_end(metadata_config, pipeline_name: str, run_id: str, state: str) -> None:
  """Best effort: the run is over whatever the store says; a reader that finds no end recorded
  still sees the run as interrupted once this process is gone."""
  from inspection import runs
  with contextlib.suppress(Exception):
    _set_run_properties(metadata_config, pipeline_name, run_id, {runs.RUN_STATE: state})


INTERRUPTED_DIR = '.interrupted'  # under the serving dir: not a number, so no server loads it
PUSHED_MODEL_KEY = 'pushed_model'  # the Pusher's output key, a folder of TFX's output layout


def _interrupted_push(store, record: Dict[str, Any], pipeline_root: str,
                      pipeline_name: str) -> Optional[str]:
  """None when this store vouches that `record` (a version's provenance) is the push of this
  pipeline's Pusher execution that never completed; else why it cannot (or that it completed).

  All must hold: the record names this pipeline root; the execution its URI names (TFX's
  layout: <root>/<node id>/pushed_model/<execution id>) is in this store, in this pipeline's
  context, of a Pusher type, with exactly that output URI and the recorded model among its
  inputs; and the execution did not complete."""
  from ml_metadata.proto import metadata_store_pb2
  uri = str(record.get('pushed_model_uri', '')).rstrip('/')
  if not uri:
    return 'no push record'
  if os.path.dirname(os.path.dirname(os.path.dirname(uri))) != pipeline_root.rstrip('/'):
    return f'pushed from another pipeline root ({uri})'
  execution_id = os.path.basename(uri)
  executions = store.get_executions_by_id([int(execution_id)]) if execution_id.isdigit() else []
  if not executions:
    return f'its push (execution {execution_id}) is not in this store'
  execution = executions[0]
  [execution_type] = store.get_execution_types_by_id([execution.type_id])
  contexts = {(t.name, c.name) for c in store.get_contexts_by_execution(execution.id)
              for t in store.get_context_types_by_id([c.type_id])}
  node_ids = [name[len(pipeline_name) + 1:] for kind, name in contexts
              if kind == 'node' and name.startswith(pipeline_name + '.')]
  if not execution_type.name.endswith('Pusher') or ('pipeline', pipeline_name) not in contexts:
    return f'execution {execution_id} of this store is not this pipeline\'s Pusher'
  if uri not in {os.path.join(pipeline_root, node, PUSHED_MODEL_KEY, execution_id) for node in node_ids}:
    return f'execution {execution_id} of this store writes elsewhere'
  events = store.get_events_by_execution_ids([execution.id])
  artifacts = {a.id: a.uri for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
  outputs = {artifacts.get(e.artifact_id) for e in events if e.type == metadata_store_pb2.Event.OUTPUT}
  inputs = {artifacts.get(e.artifact_id) for e in events if e.type == metadata_store_pb2.Event.INPUT}
  if outputs - {uri}:
    return f'execution {execution_id} of this store recorded another output'
  if record.get('model_uri') not in inputs:
    return f'execution {execution_id} of this store pushed another model'
  if execution.last_known_state in (metadata_store_pb2.Execution.COMPLETE,
                                    metadata_store_pb2.Execution.CACHED):
    return 'complete'
  return None


def set_aside_interrupted_pushes(metadata_config, serving_dir: str, pipeline_root: str,
                                 pipeline_name: str):
  """Moves aside (to <serving dir>/.interrupted/<version>) each version that this store vouches
  was pushed by an interrupted run of this pipeline: the Pusher renamed it into place, then the
  run was killed before its execution was marked COMPLETE (_interrupted_push says what
  vouching takes). Nothing is deleted. Returns ([(version dir, where it went)], [(version dir,
  why this store does not vouch for it)]); versions the store vouches for as complete pushes are
  in neither. Run under the output dir's lock, so no push is in flight."""
  from components import mnist_pusher
  from pipeline import store as store_lib
  versions = mnist_pusher.versions(serving_dir)
  if not versions:
    return [], []
  store = store_lib.open_store(metadata_config)
  moved, unvouched = [], []
  for version in versions:
    version_dir = os.path.join(serving_dir, str(version))
    reason = _interrupted_push(store, mnist_pusher.provenance(version_dir), pipeline_root, pipeline_name)
    if reason == 'complete':
      continue
    if reason:
      unvouched.append((version_dir, reason))
      continue
    aside = os.path.join(serving_dir, INTERRUPTED_DIR, str(version))
    suffix = 1
    while os.path.lexists(aside):
      suffix += 1
      aside = os.path.join(serving_dir, INTERRUPTED_DIR, f'{version}-{suffix}')
    os.makedirs(os.path.dirname(aside), exist_ok=True)
    os.rename(version_dir, aside)
    moved.append((version_dir, aside))
  return moved, unvouched


def _runner_with_run_id(run_id: str):
  """TFX's LocalDagRunner, but the run gets `run_id` instead of the time LocalDagRunner reads.

  LocalDagRunner.run_with_ir fills the pipeline-run-id runtime parameter with
  datetime.now().isoformat() (tfx/orchestration/local/local_dag_runner.py, 1.16); the same
  substitution done first leaves it nothing to fill."""
  from tfx.dsl.compiler import constants
  from tfx.orchestration.local import local_dag_runner
  from tfx.orchestration.portable import runtime_parameter_utils

  class Runner(local_dag_runner.LocalDagRunner):

    def run_with_ir(self, pipeline, run_options=None, **kwargs):
      runtime_parameter_utils.substitute_runtime_parameter(
          pipeline, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id})
      return super().run_with_ir(pipeline, run_options=run_options, **kwargs)

  return Runner()


PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def importable_in_subprocesses(environ=os.environ) -> None:
  """Puts the project on PYTHONPATH, so that processes this one starts import `components`
  and `trainer_module` from any working directory: Beam's multi_processing workers unpickle the
  ExampleGen's transforms by module name (without this: "No module named 'components'")."""
  paths = [p for p in environ.get('PYTHONPATH', '').split(os.pathsep) if p]
  if PROJECT_ROOT not in paths:
    environ['PYTHONPATH'] = os.pathsep.join([PROJECT_ROOT, *paths])


def start_early(component_id: str) -> None:
  """Side by side where LocalDagRunner runs one component at a time: as the Evaluator starts, the
  ServingCheck's probe process starts importing TensorFlow (it gets its model only when the
  ServingCheck runs). Never fails the run: without it the ServingCheck starts its own."""
  if component_id == 'Evaluator':
    from components import serving_check
    with contextlib.suppress(Exception):
      serving_check.prestart_probe()


def run(config: PipelineConfig, metadata_config, paths: LocalPaths, verbose: bool,
        run_id: str) -> List[str]:
  """create_pipeline + LocalDagRunner as run `run_id`, one progress line per component; RunError on
  failure. The run records who runs it (see inspection.runs) and how it ended. Returns
  where the versions of interrupted pushes were moved aside, for the summary."""
  importable_in_subprocesses()
  progress = console.ComponentProgress(on_start=start_early)
  console.install(verbose, progress)
  from inspection import runs
  from pipeline.pipeline import create_pipeline
  print(f'MNIST TFX pipeline: data {config.data_dir} → {paths.output_dir}')
  moved, unvouched = set_aside_interrupted_pushes(metadata_config, config.serving_dir,
                                                  config.pipeline_root, config.pipeline_name)
  for version_dir, aside in moved:
    print(f'Moved {version_dir} aside to {aside}: an interrupted run pushed it but never '
          'recorded the push (nothing deleted; move it back to serve it)')
  for version_dir, reason in unvouched:
    print(f'Kept {version_dir}: not vouched for by this store ({reason})')
  try:
    _set_run_properties(metadata_config, config.pipeline_name, run_id,
                        {**runs.this_process(), runs.RUN_STATE: runs.RUNNING})
    _runner_with_run_id(run_id).run(create_pipeline(config, metadata_config))
  except KeyboardInterrupt:
    _record_end(metadata_config, config.pipeline_name, run_id, runs.INTERRUPTED)
    raise RunError(f'\ninterrupted{f" during {progress.current}" if progress.current else ""}') from None
  except Exception as e:  # pylint: disable=broad-except
    _record_end(metadata_config, config.pipeline_name, run_id, runs.FAILED)
    if verbose:
      traceback.print_exc()
    message = _root_cause_message(e)
    if message:
      raise RunError(f'error: {message}') from None
    where = f'{progress.current} failed: ' if progress.current else ''
    raise RunError(f'error: {where}{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}'
                   f'{"" if verbose else " (rerun with --verbose for details)"}') from None
  _record_end(metadata_config, config.pipeline_name, run_id, runs.COMPLETE)
  return [aside for _, aside in moved]


def report_and_summary(metadata_config, paths: LocalPaths, started: float, run_id: str,
                       set_aside: Sequence[str] = ()) -> int:
  """Writes run `run_id`'s HTML report, prints its summary; returns the exit code. Always this
  run, never merely the newest in the store (another output dir may share a MySQL store)."""
  from inspection import report
  from inspection import runs
  from pipeline import store as store_lib
  store = store_lib.open_store(metadata_config)
  run_context = runs.run_context(store, run_id)
  if run_context is None:
    raise RunError(f'error: run {run_id} is missing from {store_lib.describe(metadata_config)}')
  from inspection import provenance
  with contextlib.suppress(Exception):  # how the run was made: versions, commit, machine, time
    provenance.record(store, run_context, time.monotonic() - started)
  summary = runs.summarize_run(store, run_context)
  examples = (None, '')
  try:
    report_path = report.write_report(store, run_context, paths.output_dir, summary)
    examples = report.write_try_examples(store, summary, paths.output_dir)
  except Exception as e:  # pylint: disable=broad-except  # the run itself succeeded
    report_path = f'not written ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""})'
  commands = console.summary_commands(summary, paths.output_dir, *examples, runs_in_store=len(runs.runs(store)),
                                      store_options=store_lib.store_options(metadata_config))
  return print_summary(summary, store_lib.describe(metadata_config), report_path,
                       paths.output_dir, time.monotonic() - started, commands, set_aside,
                       unchanged_since=pushing_run(store, summary))


def pushing_run(store, summary) -> Optional[str]:
  """When this run's Pusher was cached: the id of the run whose Pusher pushed the version that
  serves the model (the first execution to output its PushedModel); else None."""
  from ml_metadata.proto import metadata_store_pb2
  from inspection import runs
  pushed = summary.artifacts.get('PushedModel')
  if not summary.already_serving or summary.component_states.get('Pusher') != 'CACHED' or not pushed:
    return None
  made = sorted(e.execution_id for e in store.get_events_by_artifact_ids([pushed])
                if e.type == metadata_store_pb2.Event.OUTPUT)
  for context in store.get_contexts_by_execution(made[0]) if made else ():
    if store.get_context_types_by_id([context.type_id])[0].name in runs.RUN_CONTEXT_TYPES:
      return context.name
  return None


def print_summary(summary, metadata, report_path, output_dir, seconds, commands=None,
                  set_aside: Sequence[str] = (), unchanged_since: Optional[str] = None) -> int:
  print('-' * 60)
  for aside in set_aside:
    print(f'Set aside:       {aside} (an interrupted push, not served; move it back to serve it)')
  if summary.accuracy is not None:
    baseline = (f' (last blessed model: {summary.baseline_accuracy:.4f})'
                if summary.baseline_accuracy is not None else '')
    print(f'Test accuracy:   {summary.accuracy:.4f}{baseline}')
  if summary.blessed:
    print('Blessed:         yes')
  else:
    print('Blessed:         no — ' + ('; '.join(summary.failures) or 'see the Evaluator output'))
  if summary.servable:
    latency = summary.serving_latency_ms
    print('Serving check:   passed' + (f' — one image in {latency["p50_ms"]:.1f} ms (p50), '
                                       f'{latency["p99_ms"]:.1f} ms (p99)' if latency else ''))
  elif summary.servable is False:
    print('Serving check:   FAILED — ' + ('; '.join(summary.serving_failures) or
                                          'see the ServingCheck output'))
  if summary.pushed_version:
    print(f'Pushed:          {summary.pushed_dir} (version {summary.pushed_version})')
  elif summary.already_serving and unchanged_since:
    print(f'Pushed:          nothing new — unchanged since run {unchanged_since}, version '
          f'{summary.already_serving} serves it ({summary.pushed_dir})')
  elif summary.already_serving:
    print(f'Pushed:          nothing new — version {summary.already_serving} already serves this '
          f'model ({summary.pushed_dir})')
  else:
    print('Pushed:          nothing (the model being served, if any, is unchanged)')
  print(f'ML Metadata:     {metadata} (run {summary.run_id})')
  print(f'Report:          {report_path}')
  print(f'Total time:      {seconds:.0f} s')
  commands = console.summary_commands(summary, output_dir) if commands is None else commands
  for label, command in commands.items():  # each runs as printed, from any directory
    print(f'{label + ":":<17}{command}')
  if summary.pushed_version or summary.already_serving:
    return EXIT_PUSHED
  return EXIT_NOT_BLESSED
