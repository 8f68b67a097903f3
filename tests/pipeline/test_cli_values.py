"""Property-based (hypothesis): any text given to a numeric flag of local_runner.py is either a
usage error (exit 2, an `error:` line naming the flag, no traceback) or a value the pipeline can
run with: finite and within its bound; the same for `inspect`'s ports, and any `predict` command
line parses or is a usage error. Out-of-bound values end the run before anything is made."""

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import local_runner
from inspection import cli as inspect_cli
from pipeline import config as config_lib
from pipeline import paths as paths_lib
from predict import cli as predict_cli

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


@pytest.mark.parametrize(
  'flag, text, says',
  [
    ('--seed', '-1', 'must be >= 0, got -1'),
    ('--seed', '99999999999999999999999', 'must be at most 2,147,483,647 in size'),
    ('--epochs', '99999999999999999999999', 'must be at most 2,147,483,647 in size'),
    ('--epochs', '0', 'must be >= 1, got 0'),
    ('--mysql-port', '0', 'must be from 1 to 65535, got 0'),
    ('--mysql-port', '70000', 'must be from 1 to 65535, got 70000'),
    ('--learning-rate', 'nan', 'must be a finite number'),
  ],
)
def test_a_numeric_flag_out_of_bounds_is_exit_2_before_anything_runs(
  tmp_path, capsys, flag, text, says
):
  """The run's own entry point: the usage error is the whole output, and nothing is made."""
  output_dir = tmp_path / 'D'
  with pytest.raises(SystemExit) as info:
    local_runner.main(['--output-dir', str(output_dir), f'{flag}={text}'])
  err = capsys.readouterr().err
  assert info.value.code == 2
  assert f': error: argument {flag}: {says}' in err.splitlines()[-1], err
  assert 'Traceback' not in err and not output_dir.exists()


PORTS = st.one_of(st.integers(-(10**6), 10**12).map(str), st.text(max_size=8))


@FAST
@given(flag=st.sampled_from(['--grpc-port', '--mysql-port']), text=PORTS)
def test_inspect_ports_are_refused_or_a_port(flag, text, capsys):
  """mnist-tfx inspect's numeric flags, before or after the command: exit 2 in one line, or a
  TCP port."""
  parser = inspect_cli._parser()
  for argv in ([f'{flag}={text}', 'runs'], ['runs', f'{flag}={text}']):
    try:
      args = parser.parse_args(argv)
    except SystemExit as e:
      err = capsys.readouterr().err
      assert e.code == 2 and f'error: argument {flag}' in err.splitlines()[-1], err
      continue
    assert 1 <= getattr(args, flag[2:].replace('-', '_')) <= 65535


@FAST
@given(
  argv=st.lists(
    st.one_of(
      st.sampled_from(['--model', '--output-dir', '--json', '--demo', '-h']), st.text(max_size=6)
    ),
    max_size=5,
  )
)
def test_any_predict_command_line_parses_or_is_a_usage_error(argv, capsys):
  try:
    args = predict_cli._parser().parse_args(argv)
  except SystemExit as e:
    out, err = capsys.readouterr()
    assert e.code == 0 and out.startswith('usage: ') or e.code == 2 and 'error: ' in err
    assert 'Traceback' not in err
    return
  assert args.images and all(isinstance(image, str) for image in args.images)
