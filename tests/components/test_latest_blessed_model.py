"""The baseline lookup used on open-source KFP, against a real ML Metadata store (SQLite)."""
import os

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.types import standard_artifacts

from components.latest_blessed_model import latest_blessed_model_uri, resolve_baseline


def _store(path):
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = str(path)
  config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
  return metadata_store.MetadataStore(config)


def _model_dir(root, name):
  path = root / name / 'Format-Serving'
  path.mkdir(parents=True)
  (path / 'saved_model.pb').write_text(name)
  return str(root / name)


def _bless(store, type_id, model_uri, blessed, as_double=False):
  artifact = metadata_store_pb2.Artifact(type_id=type_id, uri=model_uri + '-blessing',
                                         state=metadata_store_pb2.Artifact.LIVE)
  if as_double:  # the KFP v2 launcher stores numeric metadata as doubles
    artifact.custom_properties['blessed'].double_value = float(blessed)
  else:
    artifact.custom_properties['blessed'].int_value = blessed
  artifact.custom_properties['current_model'].string_value = model_uri
  return store.put_artifacts([artifact])[0]


def _output(tmp_path):
  output = standard_artifacts.Model()
  output.uri = str(tmp_path / 'out' / 'model')
  return output


def test_without_any_blessing_the_candidate_is_the_baseline(tmp_path):
  store = _store(tmp_path / 'm.sqlite')
  candidate = _model_dir(tmp_path, 'candidate')
  output = _output(tmp_path)
  assert resolve_baseline(store, candidate, output) == candidate
  assert (tmp_path / 'out' / 'model' / 'Format-Serving' / 'saved_model.pb').read_text() == 'candidate'
  assert output.get_string_custom_property('baseline_kind') == 'candidate'


def test_the_newest_blessed_model_wins(tmp_path):
  store = _store(tmp_path / 'm.sqlite')
  kfp_type = store.put_artifact_type(metadata_store_pb2.ArtifactType(name='tfx.ModelBlessing'))
  old = _model_dir(tmp_path, 'old')
  served = _model_dir(tmp_path, 'served')
  rejected = _model_dir(tmp_path, 'rejected')
  _bless(store, kfp_type, old, 1)
  _bless(store, kfp_type, served, 1, as_double=True)
  _bless(store, kfp_type, rejected, 0)
  assert latest_blessed_model_uri(store) == served
  output = _output(tmp_path)
  resolve_baseline(store, _model_dir(tmp_path, 'candidate'), output)
  assert (tmp_path / 'out' / 'model' / 'Format-Serving' / 'saved_model.pb').read_text() == 'served'
  assert output.get_string_custom_property('baseline_kind') == 'latest_blessed'
  assert os.path.exists(served), 'the source model is copied, not moved'
