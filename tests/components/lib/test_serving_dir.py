"""A serving dir's rules, for any name and any record: which folders are versions (TF Serving's
int64, written one way), which are listed as ignored, what a push's own names look like, and a
version's record checked before use. Property-based (hypothesis) over names and bytes."""

import json
import os
import socket

from hypothesis import given, settings
from hypothesis import strategies as st

from components.lib import serving_dir

NAMES = st.one_of(
  st.integers(-5, 2**64).map(str),
  st.sampled_from(['007', '²', '١', '1.5', ' 5', '5 ', '+5', '1e3', '9' * 19, '9' * 20, '']),
  st.text(max_size=12),
)


@settings(max_examples=400, deadline=None)
@given(name=NAMES)
def test_a_version_name_is_a_plain_int64_decimal_written_one_way(name):
  if serving_dir.is_version_name(name):
    assert name.isascii() and str(int(name)) == name and 0 <= int(name) <= serving_dir.MAX_VERSION
  else:
    assert not (name.isascii() and name.isdigit() and str(int(name)) == name and int(name) < 2**63)


def test_folders_that_are_not_versions_are_listed_and_never_served(tmp_path):
  for name in ('5', '0', '007', '²', '99999999999999999999', 'old', '.interrupted'):
    os.makedirs(tmp_path / name / 'variables')
    (tmp_path / name / serving_dir.SAVED_MODEL_FILE).write_text(name)
  (tmp_path / '6').write_text('a file is no version')
  assert serving_dir.versions(str(tmp_path)) == [0, 5]
  assert serving_dir.not_versions(str(tmp_path)) == ['007', '99999999999999999999', 'old', '²']
  assert serving_dir.newest_servable(str(tmp_path)) == (str(tmp_path / '5'), '5')
  assert serving_dir.not_versions(str(tmp_path / 'none')) == []


JSON = st.recursive(
  st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
  lambda inner: (
    st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=16), inner, max_size=4)
  ),
  max_leaves=12,
)
RECORD_KEYS = st.sampled_from(
  [serving_dir.MODEL_URI, serving_dir.PUSHED_MODEL_URI, serving_dir.PUSHED_AT, 'blessing_uri']
)
RECORDS = st.one_of(
  st.binary(max_size=200),
  JSON.map(lambda value: json.dumps(value).encode()),
  st.dictionaries(RECORD_KEYS, JSON | st.text(max_size=30), max_size=4).map(
    lambda value: json.dumps(value).encode()
  ),
  st.just(b'{"pushed_at": NaN}'),
  st.just(b'[' * 60000),  # deeper than Python's recursion, within the size bound
)


@settings(max_examples=400, deadline=None)
@given(raw=RECORDS)
def test_any_record_bytes_are_a_record_of_the_pushers_form_or_one_reason(raw):
  record, problem = serving_dir.parse_record(raw)
  if problem is None:
    assert isinstance(record, dict) and serving_dir.record_problem(record) is None
    for key in (serving_dir.MODEL_URI, serving_dir.PUSHED_MODEL_URI):
      assert isinstance(record.get(key, ''), str)
  else:
    assert record == {} and '\n' not in problem and problem.startswith('its record ')


def test_a_record_is_read_bounded_and_never_from_a_special_file(tmp_path):
  version = tmp_path / '1'
  (version / 'assets.extra').mkdir(parents=True)
  path = version / serving_dir.PROVENANCE_FILE
  path.write_text(
    json.dumps({serving_dir.MODEL_URI: '/m', 'note': 'x' * serving_dir.MAX_RECORD_BYTES})
  )
  assert serving_dir.read_provenance(str(version)) == (
    {},
    f'its record is over {serving_dir.MAX_RECORD_BYTES} bytes',
  )
  path.unlink()
  with socket.socket(socket.AF_UNIX) as listener:
    listener.bind(str(path))
  record, problem = serving_dir.read_provenance(str(version))
  assert record == {} and problem == 'its record cannot be read (is a socket, not a regular file)'
  path.unlink()
  assert serving_dir.read_provenance(str(version)) == ({}, 'no record')
  path.write_text(json.dumps({serving_dir.MODEL_URI: '/m', serving_dir.PUSHED_AT: 1.5e9}))
  assert serving_dir.provenance(str(version)) == {serving_dir.MODEL_URI: '/m', 'pushed_at': 1.5e9}


@settings(max_examples=300, deadline=None)
@given(
  prefix=st.sampled_from(['.pushing-', 'models.config.tmp-']),
  stamp=st.integers(0, 2**40),
  pid=st.integers(1, 2**31),
  host=st.text(alphabet='abcdefghij-.0123456789', min_size=1, max_size=30),
  other=st.text(max_size=40),
)
def test_only_names_a_push_made_carry_its_mark(prefix, stamp, pid, host, other):
  name = serving_dir.owned_name(prefix, stamp, pid, host)
  assert serving_dir.parse_owned(name, prefix) == (stamp, pid, host)
  assert serving_dir.parse_owned(name[:-1], prefix) is None
  parsed = serving_dir.parse_owned(prefix + other, prefix)
  assert parsed is None or serving_dir.owned_name(prefix, *parsed) == prefix + other
