"""No secret reaches the console: redact() on the exact text TFX 1.16 and Beam 2.60 print, and
protect_output() around everything a process prints. The end-to-end check (a --verbose run with
secrets in --beam-args and the environment) is in tests/pipeline/local/test_runs.py, and with a
real MySQL password in tests/inspection/test_store_mysql.py."""

import io
import logging
import sys

import pytest

from pipeline import secrets

# TFX's LocalDagRunner with --verbose: "Using deployment config:\n %s" (every Beam component's
# beam_pipeline_args, twice) and "Using connection config:\n %s" (the MySQL password).
DEPLOYMENT_CONFIG = """INFO:absl:Using deployment config:
 executor_specs {
  key: "Evaluator"
  value {
    beam_executable_spec {
      python_executor_spec {
        class_path: "components.mnist_evaluator.Executor"
      }
      beam_pipeline_args: "--aws_secret_access_key=SEKRETAWS"
      beam_pipeline_args: "--password=PWBEAM"
      beam_pipeline_args: "--flink_master=http://bob:URLPW@flink:8081"
      beam_pipeline_args_placeholders {
        value {
          string_value: "--aws_secret_access_key=SEKRETAWS"
        }
      }
    }
  }
}
"""
CONNECTION_CONFIG = """INFO:absl:Using connection config:
 mysql {
  host: "127.0.0.1"
  port: 41237
  database: "mlmd"
  user: "mlmd"
  password: "test-only-secret"
}
"""
# Beam, for options it does not know (ExampleGen and Evaluator, each twice).
BEAM_DISCARDING = (
  'WARNING:apache_beam.options.pipeline_options:Discarding unparseable args: '
  "['--aws_secret_access_key=SEKRETAWS', '--password=PWBEAM']"
)
SECRETS = ('SEKRETAWS', 'PWBEAM', 'URLPW', 'test-only-secret')


@pytest.fixture(autouse=True)
def no_known_secrets(monkeypatch):
  monkeypatch.setattr(secrets, '_secrets', set())


@pytest.mark.parametrize('text', [DEPLOYMENT_CONFIG, CONNECTION_CONFIG, BEAM_DISCARDING])
def test_what_tfx_and_beam_print_is_redacted_by_its_shape_alone(text):
  clean = secrets.redact(text)
  assert not any(secret in clean for secret in SECRETS), clean
  assert clean.count('\n') == text.count('\n')


def test_the_shapes_kept_readable():
  assert secrets.redact(DEPLOYMENT_CONFIG).splitlines()[8:11] == [
    '      beam_pipeline_args: "--aws_secret_access_key=***"',
    '      beam_pipeline_args: "--password=***"',
    '      beam_pipeline_args: "--flink_master=http://flink:8081"',
  ]
  assert '  password: "***"' in secrets.redact(CONNECTION_CONFIG).splitlines()
  assert secrets.redact(BEAM_DISCARDING).endswith(
    "['--aws_secret_access_key=***', '--password=***']"
  )
  assert (
    secrets.redact('--beam-args --token T0K3N --api-key=K3Y')
    == '--beam-args --token *** --api-key=***'
  )
  assert (
    secrets.redact('{"api_key": "K", "password": "P"}') == '{"api_key": "***", "password": "***"}'
  )
  assert (
    secrets.redact('AWS_SECRET_ACCESS_KEY=abc KFP_TOKEN=def')
    == 'AWS_SECRET_ACCESS_KEY=*** KFP_TOKEN=***'
  )
  assert secrets.redact('Authorization: Bearer eyJhbGciOi') == 'Authorization: Bearer ***'


@pytest.mark.parametrize(
  'text',
  [
    ' key: "Evaluator"',  # protobuf maps, all over TFX's logs
    '        input_key: "model"',
    "error: Trainer failed: KeyError: 'image' (rerun with --verbose for details)",
    'error: --output-dir /etc/passwd: it is a file, not a directory',
    'Inspect:         .venv/bin/python -m inspection --output-dir /tmp/secret_keys/D runs',
    (
      'Try it:          saved_model_cli run --dir x --tag_set serve --signature_def classify '
      '--inputs image=x.npy'
    ),
    'ML Metadata:     MySQL mlmd@127.0.0.1:3306/mlmd (run 2026-11-27T01:28:27.880257)',
    'error: could not download from http://127.0.0.1:9/',
    'author: someone',
  ],
)
def test_ordinary_lines_are_left_alone(text):
  assert secrets.redact(text) == text


def test_known_secrets_are_masked_wherever_they_appear(monkeypatch):
  secrets.add_secret('hunter2pw')
  secrets.add_secret('abc')  # too short to mask everywhere; masked where it looks like one
  assert secrets.redact('connecting as mlmd with hunter2pw…') == 'connecting as mlmd with ***…'
  assert secrets.redact("args ['--pass', 'hunter2pw']") == "args ['--pass', '***']"
  assert secrets.redact('abc and password=abc') == 'abc and password=***'


def test_secrets_are_found_in_the_command_line_and_the_environment():
  argv = [
    '--output-dir',
    'D',
    '--beam-args',
    '--aws_secret_access_key=A1 --password B2 --runner=DirectRunner --flink_master=http://u:C3@h:1',
    '--beam-args=--token=D4',
    '--verbose',
  ]
  assert list(secrets.secrets_in_args(argv)) == ['A1', 'B2', 'C3', 'D4']
  env = {
    'MLMD_MYSQL_PASSWORD': 'pw',
    'AWS_SECRET_ACCESS_KEY': 'x' * 20,
    'KFP_TOKEN': 'true',
    'HOME': '/root',
    'PWD': '/work',
    'GITHUB_TOKEN': 'ghp_' + 'y' * 20,
  }
  assert sorted(secrets.secrets_in_environment(env)) == sorted(['pw', 'x' * 20, 'ghp_' + 'y' * 20])


def test_protect_output_covers_print_logging_and_tracebacks(monkeypatch):
  out, err = io.StringIO(), io.StringIO()
  monkeypatch.setattr(sys, 'stdout', out)
  monkeypatch.setattr(sys, 'stderr', err)
  with secrets.protect_output(
    ['--beam-args', '--some_key=VALUE1'], {'MLMD_MYSQL_PASSWORD': 'DBPASS'}
  ):
    print('value VALUE1 and DBPASS')
    handler = logging.StreamHandler()  # made inside: holds the redacting sys.stderr
    logger = logging.getLogger('test_protect_output')
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)  # whatever other tests left on the root logger
    logger.propagate = False
    try:
      logger.warning('Using connection config: password: "%s"', 'DBPASS')
      try:
        raise ValueError('bad option --some_key=VALUE1')
      except ValueError:
        logger.exception('failed')
    finally:
      logger.removeHandler(handler)
    assert sys.stdout.isatty() is False  # the wrapped stream's own attributes still answer
  assert sys.stdout is out and sys.stderr is err  # restored
  assert out.getvalue() == 'value *** and ***\n'
  assert 'VALUE1' not in err.getvalue() and 'DBPASS' not in err.getvalue()
  assert (
    'password: "***"' in err.getvalue()
    and 'ValueError: bad option --some_key=***' in err.getvalue()
  )


def test_redacting_filter_for_other_handlers():
  record = logging.LogRecord(
    'absl',
    logging.INFO,
    __file__,
    1,
    'Using connection config:\n %s',
    ('mysql { password: "test-only-secret" }',),
    None,
  )
  assert secrets.RedactingFilter().filter(record)
  assert record.getMessage() == 'Using connection config:\n mysql { password: "***" }'
