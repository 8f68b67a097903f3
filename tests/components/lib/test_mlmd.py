"""ML Metadata's ids read from text a person gives (inspect lineage, a version's record): int64
from 1, plain decimal, or nothing. Property-based (hypothesis)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from components.lib import mlmd


@settings(max_examples=500, deadline=None)
@given(
  text=st.one_of(
    st.integers(-(2**65), 2**65).map(str),
    st.sampled_from(['²', '١٢', '0', '00', '007', ' 5', '5 ', '+5', '1e3', '9223372036854775808']),
    st.text(max_size=25),
  )
)
def test_an_id_is_what_ml_metadata_can_hold_or_none(text):
  found = mlmd.parse_id(text)
  if found is None:
    assert not (text.isascii() and text.isdigit() and str(int(text)) == text) or not (
      1 <= int(text) <= mlmd.MAX_ID
    )
  else:
    assert str(found) == text and 1 <= found <= mlmd.MAX_ID


def test_the_edges():
  assert mlmd.parse_id(str(2**63 - 1)) == 2**63 - 1
  assert mlmd.parse_id(str(2**63)) is None
  assert mlmd.parse_id('²') is None and mlmd.parse_id('0') is None
