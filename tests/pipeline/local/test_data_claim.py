"""An output dir holds the models of one data set and class list: recorded in dataset.json by its
first run, read back from the store for an output dir from before that record, and a run on
another set refused before its data is read (one line naming both and the way out, exit 2)."""

import json
import os

from hypothesis import given, settings
from hypothesis import strategies as st

import local_runner
from components.lib import data_identity
from pipeline.local import data_claim
from pipeline.paths import LocalPaths


def test_an_output_dir_from_before_the_record_is_known_by_its_examples(recorded, capsys):
  """The recorded runs' Examples say MNIST's digits: a Fashion-MNIST run is refused before
  anything is read or written, and no record is made by a refused run."""
  output_dir, store = recorded
  paths = LocalPaths.under(output_dir)
  assert data_claim.recorded_in_store(store, paths) == data_identity.of_dataset('mnist')
  before = sorted(os.listdir(output_dir))
  code = local_runner.main(
    ['--output-dir', output_dir, '--data-dir', '/nonexistent', '--dataset', 'fashion-mnist']
  )
  err = capsys.readouterr().err
  assert code == 2 and err.count('\n') == 1, err
  assert err.startswith(f'error: {output_dir} holds the models of mnist (classes 0, 1, 2, … 10')
  assert sorted(os.listdir(output_dir)) == sorted(before + ['.run.lock'])  # no dataset.json
  assert data_claim.recorded_in_store(store, LocalPaths.under('/elsewhere')) is None


def test_the_same_name_with_other_classes_is_another_data_set(tmp_path):
  paths = LocalPaths.under(str(tmp_path))
  data_claim.record(paths, data_identity.DataIdentity('images', ('cat', 'dog')))
  assert data_claim.check(paths, data_identity.DataIdentity('images', ('cat', 'dog')))
  try:
    data_claim.check(paths, data_identity.DataIdentity('images', ('dog', 'cat')))
  except data_claim.RunError as e:
    assert e.exit_code == 2 and '(the same name, other classes)' in e.line
  else:
    raise AssertionError('expected a refusal')
  data_claim.record(paths, data_identity.of_dataset('mnist'))  # never overwrites a record
  assert data_claim.read_claim(paths) == data_identity.DataIdentity('images', ('cat', 'dog'))


JSON = st.recursive(
  st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
  lambda inner: (
    st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=3)
  ),
  max_leaves=12,
)
CLAIMS = st.one_of(
  st.binary(max_size=100),
  JSON.map(lambda value: json.dumps(value).encode()),
  st.fixed_dictionaries(
    {'dataset': JSON | st.text(max_size=10), 'class_names': st.lists(JSON | st.text(), max_size=5)}
  ).map(lambda value: json.dumps(value).encode()),
)


@settings(max_examples=300, deadline=None)
@given(raw=CLAIMS)
def test_any_bytes_in_dataset_json_are_an_identity_or_none(raw):
  found = data_claim.parse_claim(raw)
  if found is not None:
    assert isinstance(found.dataset, str) and found.dataset
    assert found.class_names and all(isinstance(c, str) for c in found.class_names)
    assert data_claim.parse_claim(found.to_json().encode()) == found  # round trip
    assert '\n' not in found.describe()
