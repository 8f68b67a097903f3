"""Property-based (hypothesis): any text given to a numeric flag of local_runner.py is either a
usage error (exit 2, an `error:` line naming the flag, no traceback) or a value the pipeline can
run with: finite and within its bound."""

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import local_runner
from pipeline import config as config_lib
from pipeline import paths as paths_lib

NUMBERS = st.one_of(
  st.integers(-(10**12), 10**12).map(str),
  st.floats(allow_nan=True, allow_infinity=True).map(repr),
  st.sampled_from(
    [
      'nan',
      '-nan',
      'inf',
      '-inf',
      'Infinity',
      '1e309',
      '-0',
      '0x10',
      '1_000',
      ' 5 ',
      '\u0661',
      '5.',
      '.5',
      '1e-400',
      '',
      '--',
      'e',
      '0.0.1',
    ]
  ),
  st.text(max_size=8),
)
FLAGS = [
  '--epochs',
  '--batch-size',
  '--learning-rate',
  '--train-examples',
  '--eval-examples',
  '--validation-examples',
  '--seed',
  '--accuracy-threshold',
  '--serving-latency-bound',
  '--label-drift-bound',
  '--augment-rotation',
  '--augment-zoom',
  '--augment-shift',
]
FAST = settings(
  max_examples=150,
  deadline=None,
  suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@FAST
@given(flag=st.sampled_from(FLAGS), text=NUMBERS)
def test_numeric_flags_are_refused_or_sane(flag, text, capsys):
  try:
    args = local_runner.parse_args([f'{flag}={text}'])
  except SystemExit as e:
    err = capsys.readouterr().err
    assert e.code == 2 and 'Traceback' not in err
    assert f'error: argument {flag}' in err.splitlines()[-1], err
    return
  try:
    config = config_lib.config_from_args(args, '/data', '/out/root', '/out/serving')
  except ValueError as e:
    assert '\n' not in str(e)
    return
  training = config.training
  numbers = [
    training.learning_rate,
    config.accuracy_threshold,
    config.serving_latency_bound_ms,
    config.label_drift_bound,
    training.augment_rotation,
    training.augment_zoom,
    training.augment_shift,
  ]
  assert all(math.isfinite(n) for n in numbers), (flag, text, numbers)
  assert training.epochs >= 1 and training.batch_size >= 1 and training.learning_rate > 0
  assert 0 <= config.accuracy_threshold <= 1 and config.serving_latency_bound_ms > 0
  assert 0 < config.label_drift_bound <= 1


@FAST
@given(text=st.text(min_size=1, max_size=40))
def test_any_output_dir_text_is_local_or_refused(text):
  if '://' in text:
    with pytest.raises(ValueError, match='must be a local directory'):
      paths_lib.check_local_output_dir(text)
  else:
    assert paths_lib.check_local_output_dir(text) == text
