"""Each ML Metadata store writes into a pipeline root of its own, so a new store (after
--fresh-store, or a store moved away) never meets an earlier store's folders under the same
execution ids: the first store keeps pipeline_root/, a later one gets pipeline_root-2/, …; a
store from before the markers keeps the root it wrote. Real ML Metadata SQLite stores, no TFX.
With real runs: test_runs.py::test_fresh_store_completes_and_keeps_every_old_file."""

import os

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from pipeline import store as store_lib
from pipeline.local import store_root
from pipeline.paths import LocalPaths


def _store(path):
  return metadata_store.MetadataStore(store_lib.sqlite_config(str(path), read_only=False))


def test_each_store_gets_a_root_of_its_own_and_keeps_it(tmp_path):
  paths = LocalPaths.under(str(tmp_path / 'D'))
  first = _store(tmp_path / 'first.sqlite')
  assert store_root.pipeline_root(first, paths) == (paths.pipeline_root, False)
  os.makedirs(os.path.join(paths.pipeline_root, 'ImportSchemaGen', 'schema', '1'))
  assert store_root.pipeline_root(first, paths) == (paths.pipeline_root, False)
  second = _store(tmp_path / 'second.sqlite')  # a fresh store: its ids start at 1 again
  assert store_root.pipeline_root(second, paths) == (paths.pipeline_root_generation(2), True)
  assert store_root.pipeline_root(second, paths) == (paths.pipeline_root_generation(2), False)
  third = _store(tmp_path / 'third.sqlite')
  os.makedirs(os.path.join(paths.pipeline_root_generation(2), 'Trainer'))
  assert store_root.pipeline_root(third, paths) == (paths.pipeline_root_generation(3), True)
  assert store_root.pipeline_root(first, paths) == (paths.pipeline_root, False)  # back again
  assert paths.pipeline_root_generations() == [1, 2, 3]
  assert store_root.store_id(first) != store_root.store_id(second)


def test_a_store_from_before_the_markers_keeps_the_root_it_wrote(tmp_path):
  paths = LocalPaths.under(str(tmp_path / 'D'))
  os.makedirs(os.path.join(paths.pipeline_root, 'Trainer', 'model', '3'))
  store = _store(tmp_path / 'old.sqlite')
  type_id = store.put_artifact_type(metadata_store_pb2.ArtifactType(name='Model'))
  uri = os.path.join(paths.pipeline_root, 'Trainer', 'model', '3')
  store.put_artifacts([metadata_store_pb2.Artifact(type_id=type_id, uri=uri)])
  assert store_root.pipeline_root(store, paths) == (paths.pipeline_root, False)
  assert store_root.marker(paths.pipeline_root) == store_root.store_id(store)


def test_a_marker_that_is_not_one_claims_nothing(tmp_path):
  paths = LocalPaths.under(str(tmp_path / 'D'))
  os.makedirs(paths.pipeline_root)
  marker = os.path.join(paths.pipeline_root, store_root.MARKER_FILE)
  os.mkfifo(marker)  # read without blocking: no marker
  assert store_root.marker(paths.pipeline_root) is None
  os.remove(marker)
  with open(marker, 'w') as f:
    f.write('not an id')
  assert store_root.marker(paths.pipeline_root) is None
  store = _store(tmp_path / 's.sqlite')
  assert store_root.pipeline_root(store, paths) == (paths.pipeline_root_generation(2), True)
  assert open(marker).read() == 'not an id'  # left as it was
