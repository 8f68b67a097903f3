"""A whole version that a killed run renamed into place before ML Metadata recorded the push is
removed before the next run; versions the store vouches for, or cannot tell about, stay."""
import json
import os

from ml_metadata.proto import metadata_store_pb2

from components import mnist_pusher
from pipeline import local
from pipeline.config import LocalPaths
from pipeline.metadata import store as store_lib


def _version(serving, number, pushed_model_uri=None):
  folder = os.path.join(serving, str(number))
  os.makedirs(os.path.join(folder, 'variables'))
  open(os.path.join(folder, 'saved_model.pb'), 'w').close()
  if pushed_model_uri:
    os.makedirs(os.path.join(folder, 'assets.extra'))
    with open(os.path.join(folder, mnist_pusher.PROVENANCE_FILE), 'w') as f:
      json.dump({'model_uri': '/m', 'pushed_model_uri': pushed_model_uri}, f)
  return folder


def test_only_versions_of_pushes_that_never_completed_are_removed(recorded):
  output_dir, _ = recorded
  config = store_lib.sqlite_config(LocalPaths.under(output_dir).metadata_path, read_only=False)
  store = store_lib.open_store(config)
  [pusher_type] = [t for t in store.get_execution_types() if t.name.endswith('Pusher')]
  killed = metadata_store_pb2.Execution(type_id=pusher_type.id,
                                        last_known_state=metadata_store_pb2.Execution.RUNNING)
  [killed_id] = store.put_executions([killed])
  serving = os.path.join(output_dir, 'serving')
  root = os.path.join(output_dir, 'pipeline_root', 'Pusher', 'pushed_model')
  recorded_push = _version(serving, 100, os.path.join(root, '5'))  # run 1's Pusher: COMPLETE
  orphan = _version(serving, 200, os.path.join(root, str(killed_id)))
  unknown = _version(serving, 300, os.path.join(root, '9999'))  # not in this store
  foreign = _version(serving, 400)  # no record at all (TFX's stock Pusher, a person)
  assert local.remove_unrecorded_pushes(config, serving) == [orphan]
  assert not os.path.exists(orphan)
  assert all(os.path.isdir(p) for p in (recorded_push, unknown, foreign))
  assert local.remove_unrecorded_pushes(config, serving) == []
  assert local.remove_unrecorded_pushes(config, os.path.join(output_dir, 'no-serving-dir')) == []
