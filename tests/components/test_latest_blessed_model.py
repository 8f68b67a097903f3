"""The baseline lookup used on open-source KFP, against a real ML Metadata store (SQLite)."""

import json
import os

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.types import standard_artifacts

from components.latest_blessed_model import latest_blessed_model_uri, resolve_baseline
from components.lib import datasets


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


def _pipeline(store, name, context_type='system.Pipeline'):
  """A pipeline's context, as KFP (system.Pipeline) or TFX's local runner (pipeline) names it."""
  type_id = store.put_context_type(metadata_store_pb2.ContextType(name=context_type))
  existing = store.get_context_by_type_and_name(context_type, name)
  return (
    existing.id
    if existing
    else store.put_contexts([metadata_store_pb2.Context(type_id=type_id, name=name)])[0]
  )


def _bless(store, type_id, model_uri, blessed, as_double=False, pipeline='mnist-tfx'):
  artifact = metadata_store_pb2.Artifact(
    type_id=type_id, uri=model_uri + '-blessing', state=metadata_store_pb2.Artifact.LIVE
  )
  if as_double:  # the KFP v2 launcher stores numeric metadata as doubles
    artifact.custom_properties['blessed'].double_value = float(blessed)
  else:
    artifact.custom_properties['blessed'].int_value = blessed
  artifact.custom_properties['current_model'].string_value = model_uri
  [artifact_id] = store.put_artifacts([artifact])
  store.put_attributions_and_associations(
    [
      metadata_store_pb2.Attribution(artifact_id=artifact_id, context_id=_pipeline(store, pipeline))
    ],
    [],
  )
  return artifact_id


def _output(tmp_path):
  output = standard_artifacts.Model()
  output.uri = str(tmp_path / 'out' / 'model')
  return output


def test_without_any_blessing_the_candidate_is_the_baseline(tmp_path):
  store = _store(tmp_path / 'm.sqlite')
  candidate = _model_dir(tmp_path, 'candidate')
  output = _output(tmp_path)
  assert resolve_baseline(store, 'mnist-tfx', candidate, output) == candidate
  assert (
    tmp_path / 'out' / 'model' / 'Format-Serving' / 'saved_model.pb'
  ).read_text() == 'candidate'
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
  assert latest_blessed_model_uri(store, 'mnist-tfx') == served
  output = _output(tmp_path)
  resolve_baseline(store, 'mnist-tfx', _model_dir(tmp_path, 'candidate'), output)
  assert (tmp_path / 'out' / 'model' / 'Format-Serving' / 'saved_model.pb').read_text() == 'served'
  assert output.get_string_custom_property('baseline_kind') == 'latest_blessed'
  assert os.path.exists(served), 'the source model is copied, not moved'


def test_another_pipelines_newer_blessing_is_never_the_baseline(tmp_path):
  store = _store(tmp_path / 'm.sqlite')
  kfp_type = store.put_artifact_type(metadata_store_pb2.ArtifactType(name='tfx.ModelBlessing'))
  ours = _model_dir(tmp_path, 'ours')
  _bless(store, kfp_type, ours, 1)
  _bless(store, kfp_type, _model_dir(tmp_path, 'theirs'), 1, pipeline='team-b')
  assert latest_blessed_model_uri(store, 'mnist-tfx') == ours
  assert latest_blessed_model_uri(store, 'team-b').endswith('theirs')
  assert latest_blessed_model_uri(store, 'never-ran') is None
  # An unattributed blessing (no pipeline context at all) is nobody's baseline either.
  store.put_artifacts([metadata_store_pb2.Artifact(type_id=kfp_type, uri='/x')])
  assert latest_blessed_model_uri(store, 'mnist-tfx') == ours


def test_local_runs_pipeline_context_is_understood(tmp_path):
  store = _store(tmp_path / 'm.sqlite')
  local_type = store.put_artifact_type(metadata_store_pb2.ArtifactType(name='ModelBlessing'))
  model = _model_dir(tmp_path, 'local')
  [blessing] = store.put_artifacts([metadata_store_pb2.Artifact(type_id=local_type, uri='/b')])
  artifact = store.get_artifacts_by_id([blessing])[0]
  artifact.custom_properties['blessed'].int_value = 1
  artifact.custom_properties['current_model'].string_value = model
  store.put_artifacts([artifact])
  store.put_attributions_and_associations(
    [
      metadata_store_pb2.Attribution(
        artifact_id=blessing, context_id=_pipeline(store, 'mnist-tfx', 'pipeline')
      )
    ],
    [],
  )
  assert latest_blessed_model_uri(store, 'mnist-tfx') == model


def _run(store, run_id, namespace):
  type_id = store.put_context_type(metadata_store_pb2.ContextType(name='system.PipelineRun'))
  context = metadata_store_pb2.Context(type_id=type_id, name=run_id)
  context.custom_properties['namespace'].string_value = namespace
  return store.put_contexts([context])[0]


def test_another_namespaces_run_of_the_same_pipeline_name_is_never_the_baseline(tmp_path):
  """KFP's pipeline context is named without the namespace: profiles share it in one store."""
  store = _store(tmp_path / 'm.sqlite')
  kfp_type = store.put_artifact_type(metadata_store_pb2.ArtifactType(name='tfx.ModelBlessing'))
  model_type = store.put_artifact_type(metadata_store_pb2.ArtifactType(name='tfx.Model'))
  ours, theirs = _model_dir(tmp_path, 'ours'), _model_dir(tmp_path, 'theirs')
  for model, namespace, run in ((ours, 'team-a', 'r1'), (theirs, 'team-b', 'r2')):
    blessing = _bless(store, kfp_type, model, 1)
    store.put_attributions_and_associations(
      [
        metadata_store_pb2.Attribution(artifact_id=blessing, context_id=_run(store, run, namespace))
      ],
      [],
    )
  candidate = _model_dir(tmp_path, 'candidate')
  [candidate_id] = store.put_artifacts(
    [metadata_store_pb2.Artifact(type_id=model_type, uri=candidate)]
  )
  store.put_attributions_and_associations(
    [
      metadata_store_pb2.Attribution(
        artifact_id=candidate_id, context_id=_run(store, 'r3', 'team-a')
      )
    ],
    [],
  )
  assert latest_blessed_model_uri(store, 'mnist-tfx') == theirs  # newest, without a namespace
  assert latest_blessed_model_uri(store, 'mnist-tfx', candidate) == ours
  output = _output(tmp_path)
  assert resolve_baseline(store, 'mnist-tfx', candidate, output) == ours


def test_the_candidates_own_blessing_is_never_its_baseline(tmp_path):
  """A rerun whose Trainer was cached brings the same model URI: the baseline stays the model it
  was first compared with (or, with none, the candidate's copy), never its own earlier blessing."""
  store = _store(tmp_path / 'm.sqlite')
  kfp_type = store.put_artifact_type(metadata_store_pb2.ArtifactType(name='tfx.ModelBlessing'))
  older, candidate = _model_dir(tmp_path, 'older'), _model_dir(tmp_path, 'candidate')
  _bless(store, kfp_type, candidate, 1)
  assert latest_blessed_model_uri(store, 'mnist-tfx', candidate) is None
  output = _output(tmp_path)
  resolve_baseline(store, 'mnist-tfx', candidate, output)
  assert output.get_string_custom_property('baseline_kind') == 'candidate'
  _bless(store, kfp_type, older, 1)
  _bless(store, kfp_type, candidate, 1)  # blessed again, newest of all
  assert latest_blessed_model_uri(store, 'mnist-tfx', candidate) == older
  assert (
    latest_blessed_model_uri(store, 'mnist-tfx') == candidate
  )  # without a candidate: the newest


def _trained_model(store, types, uri, dataset, class_names):
  """A tfx.Model at `uri` whose Trainer read tfx.Examples of `dataset`, as KFP records them."""
  examples = metadata_store_pb2.Artifact(type_id=types['examples'], uri=f'{uri}-examples')
  examples.custom_properties['dataset'].string_value = dataset
  examples.custom_properties['class_names'].string_value = json.dumps(class_names)
  model = metadata_store_pb2.Artifact(type_id=types['model'], uri=uri)
  store.put_execution(
    metadata_store_pb2.Execution(type_id=types['trainer']),
    [
      (examples, metadata_store_pb2.Event(type=metadata_store_pb2.Event.INPUT)),
      (model, metadata_store_pb2.Event(type=metadata_store_pb2.Event.OUTPUT)),
    ],
    [],
  )


def test_only_a_model_of_the_candidates_own_data_set_is_its_baseline(tmp_path):
  """One pipeline name compiled for digits, then for clothes: the clothes model, though newer, is
  no baseline for a digits candidate, nor the digits model for a clothes one."""
  store = _store(tmp_path / 'm.sqlite')
  types = {
    'examples': store.put_artifact_type(metadata_store_pb2.ArtifactType(name='tfx.Examples')),
    'model': store.put_artifact_type(metadata_store_pb2.ArtifactType(name='tfx.Model')),
    'trainer': store.put_execution_type(metadata_store_pb2.ExecutionType(name='tfx.Trainer')),
  }
  blessing_type = store.put_artifact_type(metadata_store_pb2.ArtifactType(name='tfx.ModelBlessing'))
  digits, clothes = [str(i) for i in range(10)], list(datasets.FASHION_MNIST.class_names)
  for name, dataset, classes in (
    ('digits', 'mnist', digits),
    ('clothes', 'fashion-mnist', clothes),
  ):
    _trained_model(store, types, str(tmp_path / name), dataset, classes)
    _bless(store, blessing_type, str(tmp_path / name), 1, as_double=True)
  _trained_model(store, types, str(tmp_path / 'digits-2'), 'mnist', digits)
  _trained_model(store, types, str(tmp_path / 'clothes-2'), 'fashion-mnist', clothes)
  assert latest_blessed_model_uri(store, 'mnist-tfx') == str(tmp_path / 'clothes')  # the newest
  assert latest_blessed_model_uri(store, 'mnist-tfx', str(tmp_path / 'digits-2')) == str(
    tmp_path / 'digits'
  )
  assert latest_blessed_model_uri(store, 'mnist-tfx', str(tmp_path / 'clothes-2')) == str(
    tmp_path / 'clothes'
  )
  _trained_model(store, types, str(tmp_path / 'other'), 'fashion-mnist', ['a', 'b'])
  assert latest_blessed_model_uri(store, 'mnist-tfx', str(tmp_path / 'other')) is None
