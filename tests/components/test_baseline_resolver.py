"""The local baseline lookup (components/baseline_resolver.py): TFX's LatestBlessedModelStrategy
on real TFX artifacts, with the candidate left out. The whole pipeline's identical rerun, cached
from end to end, is in tests/test_local_runner.py."""

from tfx.types import standard_artifacts

from components.baseline_resolver import LatestBlessedOtherModelStrategy


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
