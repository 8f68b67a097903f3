"""MnistPusher: whole versions only, never the same model twice, older and foreign folders
tolerated."""

import json
import os
import socket
import time

from tfx.types import standard_artifacts

from components import mnist_pusher
from components.lib import names, serving_dir
from trainer_module import tf_serving


def _model(tmp_path, name):
  model = standard_artifacts.Model()
  model.uri = str(tmp_path / 'models' / name)
  serving = tmp_path / 'models' / name / 'Format-Serving'
  (serving / 'variables').mkdir(parents=True, exist_ok=True)
  (serving / 'saved_model.pb').write_text(name)
  (serving / 'variables' / 'variables.index').write_text('index')
  return model


def _blessing(tmp_path, blessed=1):
  blessing = standard_artifacts.ModelBlessing()
  blessing.uri = str(tmp_path / 'blessing')
  blessing.set_int_custom_property('blessed', blessed)
  return blessing


def _push(tmp_path, model, blessed=1):
  pushed = standard_artifacts.PushedModel()
  pushed.uri = str(tmp_path / 'pushed' / os.path.basename(model.uri))
  destination = json.dumps({'filesystem': {'base_directory': str(tmp_path / 'serving')}})
  mnist_pusher.Executor().Do(
    {'model': [model], 'model_blessing': [_blessing(tmp_path, blessed)]},
    {'pushed_model': [pushed]},
    {'push_destination': destination},
  )
  return pushed


def test_pushes_a_whole_version_with_its_provenance(tmp_path):
  model = _model(tmp_path, 'a')
  pushed = _push(tmp_path, model)
  [version] = serving_dir.versions(str(tmp_path / 'serving'))
  assert pushed.get_int_custom_property('pushed') == 1
  assert pushed.get_string_custom_property('pushed_version') == str(version)
  target = tmp_path / 'serving' / str(version)
  assert (target / 'saved_model.pb').read_text() == 'a'
  assert json.loads((target / serving_dir.PROVENANCE_FILE).read_text())['model_uri'] == model.uri
  assert sorted(os.listdir(tmp_path / 'serving')) == [str(version), 'models.config'], (
    'no staging folder left'
  )


def test_the_same_model_is_not_pushed_twice_but_a_new_one_is(tmp_path):
  first = _push(tmp_path, _model(tmp_path, 'a'))
  again = _push(tmp_path, _model(tmp_path, 'a'))
  version = first.get_string_custom_property('pushed_version')
  assert again.get_int_custom_property('pushed') == 0
  assert again.get_string_custom_property(names.ALREADY_SERVING) == version
  assert serving_dir.versions(str(tmp_path / 'serving')) == [int(version)]
  newer = _push(tmp_path, _model(tmp_path, 'b'))
  assert int(newer.get_string_custom_property('pushed_version')) > int(
    version
  )  # even within a second


def test_an_unblessed_model_is_not_pushed(tmp_path):
  pushed = _push(tmp_path, _model(tmp_path, 'a'), blessed=0)
  assert pushed.get_int_custom_property('pushed') == 0
  assert not pushed.has_custom_property(names.ALREADY_SERVING)
  assert serving_dir.versions(str(tmp_path / 'serving')) == []


def test_older_foreign_and_partial_folders(tmp_path):
  serving = tmp_path / 'serving'
  assert serving_dir.versions(str(serving)) == []  # no serving dir yet
  (serving / '100').mkdir(parents=True)  # pushed by TFX's stock Pusher: no provenance
  (serving / '100' / 'saved_model.pb').write_text('old')
  (serving / '200').write_text('a file, not a version')
  (serving / '.pushing-300-abc').mkdir()  # an interrupted push
  (serving / 'notes').mkdir()
  assert serving_dir.versions(str(serving)) == [100]
  assert serving_dir.provenance(str(serving / '100')) == {}
  model = _model(tmp_path, 'a')
  assert mnist_pusher.serving_version_of(str(serving), model.uri) is None
  # A version that claims the model but lacks its SavedModel does not count as serving it.
  (serving / '400' / 'assets.extra').mkdir(parents=True)
  (serving / '400' / serving_dir.PROVENANCE_FILE).write_text(json.dumps({'model_uri': model.uri}))
  assert mnist_pusher.serving_version_of(str(serving), model.uri) is None
  (serving / '400' / serving_dir.PROVENANCE_FILE).write_text('not json')
  assert serving_dir.provenance(str(serving / '400')) == {}
  pushed = _push(tmp_path, model)
  assert int(pushed.get_string_custom_property('pushed_version')) > 400


def test_the_warmup_requests_travel_with_the_version(tmp_path):
  model = _model(tmp_path, 'a')
  warmup = (
    tmp_path / 'models' / 'a' / 'Format-Serving' / 'assets.extra' / 'tf_serving_warmup_requests'
  )
  warmup.parent.mkdir()
  warmup.write_bytes(b'records')
  version = _push(tmp_path, model).get_string_custom_property('pushed_version')
  extra = tmp_path / 'serving' / version / 'assets.extra'
  assert sorted(os.listdir(extra)) == ['pushed_from.json', 'tf_serving_warmup_requests']
  assert (extra / 'tf_serving_warmup_requests').read_bytes() == b'records'


def _models_config(serving):
  return (serving / 'models.config').read_text()


def test_models_config_names_the_serving_dir(tmp_path, monkeypatch):
  """TF Serving's ModelServerConfig in text format, base_path the serving dir made absolute."""
  monkeypatch.chdir(tmp_path)
  pushed = _push(tmp_path, _model(tmp_path, 'a'))
  serving = tmp_path / 'serving'
  assert _models_config(serving) == (
    'model_config_list {\n'
    '  config {\n'
    '    name: "mnist"\n'
    f'    base_path: "{serving}"\n'
    '    model_platform: "tensorflow"\n'
    '  }\n'
    '}\n'
  )
  [config] = tf_serving.parse_models_config(_models_config(serving)).model_config_list.config
  assert config.base_path == str(serving) and os.path.isabs(config.base_path)
  assert serving_dir.versions(config.base_path) == [
    int(pushed.get_string_custom_property('pushed_version'))
  ]  # the file is no version
  relative = mnist_pusher.write_models_config('serving')
  assert relative == str(serving / 'models.config')
  assert _models_config(serving) == tf_serving.models_config_text(str(serving))


def test_models_config_is_written_when_the_model_is_already_served(tmp_path):
  _push(tmp_path, _model(tmp_path, 'a'))
  (tmp_path / 'serving' / 'models.config').unlink()
  again = _push(tmp_path, _model(tmp_path, 'a'))
  assert again.get_int_custom_property('pushed') == 0
  assert _models_config(tmp_path / 'serving') == tf_serving.models_config_text(
    str(tmp_path / 'serving')
  )


def test_models_config_is_not_written_for_an_unblessed_model(tmp_path):
  _push(tmp_path, _model(tmp_path, 'a'), blessed=0)
  assert not (tmp_path / 'serving' / 'models.config').exists()


def test_models_config_is_replaced_whole_and_dead_temporary_files_go(tmp_path, monkeypatch):
  serving = tmp_path / 'serving'
  serving.mkdir()
  (serving / 'models.config').write_text('old')
  prefix, now = mnist_pusher.CONFIG_TEMP_PREFIX, int(time.time())
  dead = serving / serving_dir.owned_name(prefix, now, pid=2**22 + 7)  # no such pid
  dead.write_text('half')
  live = serving / serving_dir.owned_name(prefix, now, pid=1)  # pid 1 is alive
  live.write_text('being written')
  mine = serving / f'models.config.tmp-{now}-{2**22 + 7}-{socket.gethostname()}'  # a person's
  mine.write_text('kept')
  replaced = []
  real_replace = os.replace
  monkeypatch.setattr(os, 'replace', lambda a, b: (replaced.append((a, b)), real_replace(a, b)))
  mnist_pusher.write_models_config(str(serving))
  [(temporary, target)] = replaced
  assert target == str(serving / 'models.config')
  assert os.path.basename(temporary).startswith('models.config.tmp-')
  assert sorted(os.listdir(serving)) == sorted(['models.config', live.name, mine.name])
  assert mnist_pusher.foreign_leftovers(str(serving)) == [mine.name]
  assert _models_config(serving) == tf_serving.models_config_text(str(serving))


def test_a_failed_models_config_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
  serving = tmp_path / 'serving'
  serving.mkdir()
  (serving / 'models.config').write_text('old')

  def full_disk(fd):
    raise OSError(28, 'No space left on device')

  monkeypatch.setattr(os, 'fsync', full_disk)
  try:
    mnist_pusher.write_models_config(str(serving))
  except OSError:
    pass
  else:
    raise AssertionError('expected the write to fail')
  assert os.listdir(serving) == ['models.config']
  assert _models_config(serving) == 'old'
