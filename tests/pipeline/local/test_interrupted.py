"""A whole version that a killed run renamed into place before ML Metadata recorded the push is
moved aside (never deleted) before the next run, and only when this store vouches that it is its
own: this pipeline root, this pipeline's Pusher, exactly that output and model, not completed.
A version copied from another output dir or left by another store stays where it is."""

import json
import os

from ml_metadata.proto import metadata_store_pb2

from components.lib import serving_dir
from pipeline import store as store_lib
from pipeline.config import PIPELINE_NAME
from pipeline.local import interrupted as local
from pipeline.paths import LocalPaths


def _version(serving, number, pushed_model_uri=None, model_uri=None):
  folder = os.path.join(serving, str(number))
  os.makedirs(os.path.join(folder, 'variables'))
  with open(os.path.join(folder, 'saved_model.pb'), 'w') as f:
    f.write(f'model {number}')
  if pushed_model_uri:
    os.makedirs(os.path.join(folder, 'assets.extra'))
    with open(os.path.join(folder, serving_dir.PROVENANCE_FILE), 'w') as f:
      json.dump({'model_uri': model_uri, 'pushed_model_uri': pushed_model_uri}, f)
  return folder


def _context(store, kind, name):
  [context] = [c for c in store.get_contexts_by_type(kind) if c.name == name] or [None]
  if context is None:
    [type_id] = [t.id for t in store.get_context_types() if t.name == kind]
    [context_id] = store.put_contexts([metadata_store_pb2.Context(type_id=type_id, name=name)])
    [context] = store.get_contexts_by_id([context_id])
  return context


def _killed_execution(
  store, model_uri, type_suffix='Pusher', pipeline=PIPELINE_NAME, node='Pusher'
):
  """An execution registered as TFX's launcher registers one (contexts, input events), then
  never completed: the run was killed."""
  [execution_type] = [t for t in store.get_execution_types() if t.name.endswith(type_suffix)]
  [model] = store.get_artifacts_by_uri(model_uri)
  execution = metadata_store_pb2.Execution(
    type_id=execution_type.id, last_known_state=metadata_store_pb2.Execution.RUNNING
  )
  event = metadata_store_pb2.Event(type=metadata_store_pb2.Event.INPUT)
  contexts = [_context(store, 'pipeline', pipeline), _context(store, 'node', f'{pipeline}.{node}')]
  execution_id, _, _ = store.put_execution(execution, [(model, event)], contexts)
  return execution_id


def _setup(recorded):
  output_dir, _ = recorded
  paths = LocalPaths.under(output_dir)
  config = store_lib.sqlite_config(paths.metadata_path, read_only=False)
  store = store_lib.open_store(config)
  model_uri = os.path.join(paths.pipeline_root, 'Trainer', 'model', '6')
  pushed = os.path.join(paths.pipeline_root, 'Pusher', 'pushed_model')
  return paths, config, store, model_uri, pushed


def _set_aside(config, paths):
  return local.set_aside_interrupted_pushes(
    config, paths.serving_dir, paths.pipeline_root, PIPELINE_NAME
  )


def test_a_genuinely_interrupted_push_is_moved_aside_whole(recorded):
  paths, config, store, model_uri, pushed = _setup(recorded)
  killed = _killed_execution(store, model_uri)
  orphan = _version(paths.serving_dir, 200, os.path.join(pushed, str(killed)), model_uri)
  recorded_push = _version(
    paths.serving_dir, 100, os.path.join(pushed, '10'), model_uri
  )  # run 1: COMPLETE
  moved, unvouched = _set_aside(config, paths)
  aside = os.path.join(paths.serving_dir, '.interrupted', '200')
  assert moved == [(orphan, aside)]
  assert (
    not os.path.exists(orphan) and open(os.path.join(aside, 'saved_model.pb')).read() == 'model 200'
  )
  assert os.path.isdir(recorded_push) and recorded_push not in dict(unvouched)
  assert _set_aside(config, paths)[0] == []  # idempotent; the moved version is no version any more
  assert serving_dir.versions(paths.serving_dir) == [
    int(v) for v in sorted(os.listdir(paths.serving_dir)) if v.isdigit()
  ]


def test_a_version_copied_from_another_output_dir_is_kept(recorded, tmp_path):
  """A restore or a move: its record names the other output dir's root, even where this store's
  execution with the same id was interrupted."""
  paths, config, store, model_uri, _ = _setup(recorded)
  killed = _killed_execution(store, model_uri)
  other_root = str(tmp_path / 'elsewhere' / 'pipeline_root')
  copied = _version(
    paths.serving_dir,
    300,
    os.path.join(other_root, 'Pusher', 'pushed_model', str(killed)),
    os.path.join(other_root, 'Trainer', 'model', '3'),
  )
  moved, unvouched = _set_aside(config, paths)
  assert moved == [] and os.path.isdir(copied)
  assert 'pushed from another pipeline root' in dict(unvouched)[copied]


def test_a_store_switch_keeps_versions_the_new_store_cannot_vouch_for(recorded):
  """Another store (a fresh SQLite, MySQL) numbers its executions anew: an interrupted execution
  there may carry the id of an old, good push. The recorded model tells them apart."""
  paths, config, store, model_uri, pushed = _setup(recorded)
  killed = _killed_execution(store, model_uri)
  old_push = _version(
    paths.serving_dir,
    400,
    os.path.join(pushed, str(killed)),
    os.path.join(paths.pipeline_root, 'Trainer', 'model', '77'),
  )
  not_pusher = _killed_execution(store, model_uri, type_suffix='Evaluator', node='Evaluator')
  claims_evaluator = _version(
    paths.serving_dir, 500, os.path.join(pushed, str(not_pusher)), model_uri
  )
  other_pipeline = _killed_execution(store, model_uri, pipeline='another-pipeline')
  claims_other = _version(
    paths.serving_dir, 600, os.path.join(pushed, str(other_pipeline)), model_uri
  )
  unknown = _version(paths.serving_dir, 700, os.path.join(pushed, '9999'), model_uri)
  foreign = _version(paths.serving_dir, 800)  # no record at all (TFX's stock Pusher, a person)
  moved, unvouched = _set_aside(config, paths)
  assert moved == []
  reasons = dict(unvouched)
  assert 'pushed another model' in reasons[old_push]
  assert "is not this pipeline's Pusher" in reasons[claims_evaluator]
  assert "is not this pipeline's Pusher" in reasons[claims_other]
  assert 'is not in this store' in reasons[unknown]
  assert reasons[foreign] == 'no push record'
  assert all(os.path.isdir(p) for p in reasons)
  assert _set_aside(config, paths) == ([], unvouched)
  empty = LocalPaths.under(os.path.join(paths.output_dir, 'none'))
  assert local.set_aside_interrupted_pushes(
    config, empty.serving_dir, paths.pipeline_root, PIPELINE_NAME
  ) == ([], [])


def _output_event(store, execution_id, uri):
  """An OUTPUT event of `execution_id` to a new artifact at `uri`, as TFX records its output."""
  [model_type] = [t for t in store.get_artifact_types() if t.name == 'Model']
  [artifact_id] = store.put_artifacts([metadata_store_pb2.Artifact(type_id=model_type.id, uri=uri)])
  event = metadata_store_pb2.Event(
    type=metadata_store_pb2.Event.OUTPUT, artifact_id=artifact_id, execution_id=execution_id
  )
  store.put_events([event])


def test_an_execution_writing_elsewhere_or_recording_another_output_does_not_vouch(recorded):
  """The record's URI must be exactly where this Pusher execution writes, and its only output."""
  paths, config, store, model_uri, pushed = _setup(recorded)
  killed = _killed_execution(store, model_uri)
  elsewhere = _version(
    paths.serving_dir,
    210,
    os.path.join(paths.pipeline_root, 'NotThePusher', 'pushed_model', str(killed)),
    model_uri,
  )
  other = _killed_execution(store, model_uri)
  _output_event(store, other, os.path.join(paths.pipeline_root, 'Pusher', 'other_output', '1'))
  another_output = _version(paths.serving_dir, 220, os.path.join(pushed, str(other)), model_uri)
  moved, unvouched = _set_aside(config, paths)
  reasons = dict(unvouched)
  assert moved == []
  assert reasons[elsewhere] == f'execution {killed} of this store writes elsewhere'
  assert reasons[another_output] == f'execution {other} of this store recorded another output'
  assert os.path.isdir(elsewhere) and os.path.isdir(another_output)


def _write_record(folder, text):
  os.makedirs(os.path.join(folder, 'assets.extra'), exist_ok=True)
  with open(os.path.join(folder, serving_dir.PROVENANCE_FILE), 'w') as f:
    f.write(text)


def test_hand_edited_records_are_one_reason_each_never_a_traceback(recorded):
  """A record a person edited (a list, a huge or odd execution id, no JSON) vouches for
  nothing: its version is kept, with the reason."""
  paths, config, store, model_uri, pushed = _setup(recorded)
  cases = {
    'a list': ('[1, 2]', 'its record is list, not an object'),
    'a URI that is a list': (
      json.dumps({'pushed_model_uri': [1]}),
      'its record has a pushed_model_uri that is list, not text',
    ),
    'an id past int64': (
      json.dumps({'pushed_model_uri': os.path.join(pushed, '9' * 20)}),
      "its record names no execution ('99999999999999999999' is not an id)",
    ),
    'a superscript id': (
      json.dumps({'pushed_model_uri': os.path.join(pushed, '²')}),
      "its record names no execution ('²' is not an id)",
    ),
    'NaN': ('{"pushed_at": NaN}', 'its record is not JSON ('),
    'a time past 9999': ('{"pushed_at": 1e300}', 'its record has a pushed_at that is not a time'),
    'not JSON': ('{"pushed_model_uri": ', 'its record is not JSON ('),
  }
  folders = {}
  for number, (case, (text, _)) in enumerate(cases.items(), start=900):
    folders[case] = _version(paths.serving_dir, number)
    _write_record(folders[case], text)
  moved, unvouched = _set_aside(config, paths)
  reasons = dict(unvouched)
  assert moved == []
  for case, (_, reason) in cases.items():
    assert folders[case] in reasons, case
    assert reason in reasons[folders[case]], (case, reasons[folders[case]])
    assert '\n' not in reasons[folders[case]]


def test_a_record_that_is_a_fifo_is_read_as_no_record(recorded):
  paths, config, *_ = _setup(recorded)
  folder = _version(paths.serving_dir, 950)
  os.makedirs(os.path.join(folder, 'assets.extra'))
  os.mkfifo(os.path.join(folder, serving_dir.PROVENANCE_FILE))
  moved, unvouched = _set_aside(config, paths)  # at once: nothing blocks on the FIFO
  assert moved == []
  assert dict(unvouched)[folder].startswith(
    'assets.extra/pushed_from.json: its record cannot be read (is a FIFO, not a regular file'
  )
