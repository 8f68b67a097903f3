"""The local baseline lookup (components/baseline_resolver.py): TFX's LatestBlessedModelStrategy
on real TFX artifacts, with the candidate left out, and with models of another data set left out
(a real ML Metadata store). The whole pipeline's identical rerun, cached from end to end, is in
tests/test_local_runner.py."""

import json

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.types import standard_artifacts

from components.baseline_resolver import LatestBlessedOtherModelStrategy
from components.lib import datasets
from pipeline import store as store_lib

FASHION = datasets.FASHION_MNIST.class_names


def _model(artifact_id):
  model = standard_artifacts.Model()
  model.id = artifact_id
  return model


def _blessing(model, blessed=1):
  blessing = standard_artifacts.ModelBlessing()
  blessing.set_int_custom_property('current_model_id', model.id)
  blessing.set_int_custom_property('blessed', blessed)
  return blessing


def _resolve(models, blessings, candidate):
  return LatestBlessedOtherModelStrategy().resolve_artifacts(
    None, {'model': list(models), 'model_blessing': list(blessings), 'candidate': [candidate]}
  )


def test_the_candidate_is_never_its_own_baseline():
  older, rejected, candidate = _model(1), _model(2), _model(3)
  blessings = [_blessing(older), _blessing(rejected, blessed=0), _blessing(candidate)]
  result = _resolve([older, rejected, candidate], blessings, candidate)
  assert [m.id for m in result['model']] == [older.id]
  assert result['model_blessing'] == [blessings[0]]
  assert result['candidate'] == [candidate]


def test_only_the_candidate_blessed_means_no_baseline():
  candidate = _model(7)
  result = _resolve([candidate], [_blessing(candidate)], candidate)
  assert result['model'] == [] and result['model_blessing'] == []


def test_a_newer_blessed_model_is_the_baseline_of_an_older_candidate():
  """A rerun of an older configuration faces the model served since, as TFX's strategy would."""
  candidate, newer = _model(3), _model(9)
  result = _resolve([candidate, newer], [_blessing(candidate), _blessing(newer)], candidate)
  assert [m.id for m in result['model']] == [newer.id]


# --- like with like: only a model of the candidate's own data set and classes is its baseline ---


def _trained(store, types, dataset, class_names=None):
  """A Model artifact whose Trainer read Examples of `dataset` (as MnistExampleGen records it),
  in a real ML Metadata store; returned as the TFX artifact a resolver gets."""
  examples = metadata_store_pb2.Artifact(type_id=types['Examples'], uri=f'/e/{dataset}')
  if dataset is not None:
    examples.custom_properties['dataset'].string_value = dataset
  if class_names is not None:
    examples.custom_properties['class_names'].string_value = json.dumps(class_names)
  [examples_id] = store.put_artifacts([examples])
  examples.id = examples_id
  model_proto = metadata_store_pb2.Artifact(type_id=types['Model'], uri=f'/m/{examples_id}')
  [model_id] = store.put_artifacts([model_proto])
  model_proto.id = model_id
  trainer = metadata_store_pb2.Execution(type_id=types['Trainer'])
  store.put_execution(
    trainer,
    [
      (examples, metadata_store_pb2.Event(type=metadata_store_pb2.Event.INPUT)),
      (model_proto, metadata_store_pb2.Event(type=metadata_store_pb2.Event.OUTPUT)),
    ],
    [],
  )
  return _model(model_id)


def test_the_baseline_is_of_the_candidates_own_data_set_and_classes(tmp_path):
  """A digits model scored on clothes is no bar for a clothes model: models trained on another
  data set, or on the same name with other classes, are left out; older Examples without the
  record count as MNIST's digits."""
  store = metadata_store.MetadataStore(
    store_lib.sqlite_config(str(tmp_path / 'metadata.sqlite'), read_only=False)
  )
  types = {
    name: store.put_artifact_type(metadata_store_pb2.ArtifactType(name=name))
    for name in ('Examples', 'Model')
  }
  types['Trainer'] = store.put_execution_type(metadata_store_pb2.ExecutionType(name='Trainer'))
  digits_old = _trained(store, types, None)  # before the record: MNIST
  fashion = _trained(store, types, 'fashion-mnist')
  other_classes = _trained(store, types, 'fashion-mnist', ['a', 'b'])
  digits = _trained(store, types, 'mnist', [str(i) for i in range(10)])
  candidate = _trained(store, types, 'fashion-mnist', list(FASHION))
  every = [digits_old, fashion, other_classes, digits, candidate]
  blessings = [_blessing(m) for m in every]
  result = LatestBlessedOtherModelStrategy().resolve_artifacts(
    store, {'model': list(every), 'model_blessing': blessings, 'candidate': [candidate]}
  )
  assert [m.id for m in result['model']] == [fashion.id]
  digits_candidate = _trained(store, types, 'mnist')
  result = LatestBlessedOtherModelStrategy().resolve_artifacts(
    store,
    {
      'model': [*every, digits_candidate],
      'model_blessing': blessings,
      'candidate': [digits_candidate],
    },
  )
  assert [m.id for m in result['model']] == [digits.id]  # the newest of the two digits models
