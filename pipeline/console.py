"""Quiet console for pipeline runs: one line per component with its time; the rest on --verbose.
Nothing secret reaches the console: see protect_output()."""
import contextlib
import logging
import os
import re
import shlex
import sys
import time
import warnings
from typing import Callable, Dict, Iterable, Iterator, Mapping, Optional, Set

from trainer_module.config import TRAINING_PLAN_LOG


def silence_native_logs(verbose: bool) -> None:
  """Must run before TensorFlow is imported."""
  if not verbose:
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
    os.environ.setdefault('GRPC_VERBOSITY', 'ERROR')
    os.environ.setdefault('GLOG_minloglevel', '3')  # ML Metadata's C++ connection retries
    warnings.filterwarnings('ignore')
    os.environ.setdefault('PYTHONWARNINGS', 'ignore')  # Beam's worker processes, the probe


def reader_went_away() -> int:
  """For `… | head -1`: the reader closed the pipe, which is no error of ours. Quiet: stdout goes
  to /dev/null so that Python's final flush has nowhere to fail."""
  with contextlib.suppress(OSError, ValueError):
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.__stdout__.fileno())
  return 0


class ComponentProgress(logging.Handler):
  """Turns the orchestrator's log records into 'Component  12.3 s' lines."""

  def __init__(self, print_fn: Callable[[str], None] = print,
               on_start: Optional[Callable[[str], None]] = None):
    super().__init__(logging.INFO)
    self._print = print_fn
    self._on_start = on_start  # called with a component's id when it starts for real
    self.current: Optional[str] = None
    self.started: Dict[str, float] = {}
    self.seconds: Dict[str, float] = {}
    self.cached = set()
    self.announced = set()
    self.notes: Dict[str, str] = {}

  # What a person sees when a component starts for real (not when it is served from cache).
  STARTING = {
      'MnistExampleGen': 'MnistExampleGen: validating the IDX files and writing TFRecords…',
      'Trainer': 'Trainer: training the seed CNN…',  # Keras' progress follows
      'Evaluator': 'Evaluator: TFMA on the eval split (candidate vs. last blessed model)…',
      'ServingCheck': 'ServingCheck: loading the candidate in a fresh process, as a model server would…',
  }
  EXAMPLE_COUNTS = 'MnistExampleGen wrote %s'  # logged by components.mnist_example_gen
  SERVING_VERDICT = 'ServingCheck verdict: %s'  # logged by components.serving_check
  TRAINING_PLAN = TRAINING_PLAN_LOG  # logged by trainer_module.task

  def emit(self, record: logging.LogRecord) -> None:
    msg = record.msg
    if msg == 'Component %s is running.':
      self.current = record.args[0]
      self.started[self.current] = time.monotonic()
    elif (msg.startswith('Going to run a new execution') and self.current
          and self.current not in self.announced):
      self.announced.add(self.current)
      if self.current in self.STARTING:
        self._print(self.STARTING[self.current])
      if self._on_start:
        self._on_start(self.current)
    elif msg == self.TRAINING_PLAN:
      self._print(f'Trainer: {record.args[0]}')
    elif msg == 'A cached execution %d is used.' and self.current:
      self.cached.add(self.current)
    elif msg in (self.EXAMPLE_COUNTS, self.SERVING_VERDICT) and self.current:
      self.notes[self.current] = f' ({record.args[0]})'
    elif msg == 'Component %s is finished.':
      node = record.args[0]
      self.seconds[node] = time.monotonic() - self.started.get(node, time.monotonic())
      note = ' (cached)' if node in self.cached else self.notes.get(node, '')
      self._print(f'{node:<28} {self.seconds[node]:7.1f} s{note}')
      self.current = None


def install(verbose: bool, progress: ComponentProgress) -> None:
  """Routes TFX's absl logs through `progress`; everything else only when verbose."""
  from absl import logging as absl_logging
  # Through absl's own flag: code that saves and restores absl verbosity (Keras' export does)
  # then restores INFO, not absl's WARNING default.
  absl_logging.set_verbosity(absl_logging.INFO)
  absl_logger = logging.getLogger('absl')
  absl_logger.addHandler(progress)
  if verbose:
    if not logging.getLogger().handlers:
      logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    for handler in logging.getLogger().handlers:  # also those made before protect_output()
      if not any(isinstance(f, RedactingFilter) for f in handler.filters):
        handler.addFilter(RedactingFilter())
    return
  absl_logger.propagate = False
  quiet_python_logs()


def quiet_python_logs() -> None:
  """Only errors from Python loggers (TF's deprecation warnings and the like stay hidden)."""
  root = logging.getLogger()
  root.setLevel(logging.ERROR)
  root.addHandler(logging.NullHandler())  # no "last resort" printing of stray warnings
  for name in ('tensorflow', 'apache_beam', 'tensorflow_model_analysis'):
    logging.getLogger(name).setLevel(logging.ERROR)


# ---- Secrets -------------------------------------------------------------------------------
# TFX logs its whole deployment config (every component's beam_pipeline_args) and the ML
# Metadata connection config (the MySQL password) with --verbose; Beam logs the pipeline options
# it does not know. Every line the runner's process prints goes through redact(): the values
# known to be secret are replaced wherever they appear, and anything that looks like a secret
# option, setting or URL password is masked too.
REDACTED = '***'
MIN_LITERAL = 4  # shorter known secrets are masked only where they look like one (below)
MIN_ENV_LITERAL = 8
_NAME = r'[A-Za-z0-9_.-]*(?:passw(?:or)?d|pwd|secret|token|credential|key|auth)[A-Za-z0-9_.-]*'
# In `name: value` text "key" is too common (protobuf maps, input_key, KeyError: 'x'): only the
# kinds of key that are secrets.
_SETTING_NAME = (r'[A-Za-z0-9_.-]*(?:passw(?:or)?d|pwd|secret|token|credential|auth(?!or)|'
                 r'(?:api|access|private|client|account|encryption|signing|ssh)[_.-]?key)[A-Za-z0-9_.-]*')
_VALUE = r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|[^\s\'",;\]})]+'
# --aws_secret_access_key=X, --password X, -token=X
_FLAG = re.compile(r'(?<![\w/-])(--?' + _NAME + r')(=|[ \t]+)(' + _VALUE + ')', re.I)
# password: "X" (protobuf text), "password": "X" (JSON), AWS_SECRET_ACCESS_KEY=X (environment)
_SETTING = re.compile(r'(?<![\w./-])(["\']?)(' + _SETTING_NAME + r')\1([ \t]*[:=][ \t]*)(' + _VALUE + ')', re.I)
# Authorization: Bearer X
_BEARER = re.compile(r'\b(Bearer|Basic|Token)([ \t]+)([A-Za-z0-9._~+/=-]{4,})')
# scheme://user:password@host
_URL_PASSWORD = re.compile(r'(\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@\'"]*:)([^@\s/\'"]+)(@)')
_ENV_NAME = re.compile(r'PASSW(?:OR)?D|SECRET|TOKEN|CREDENTIAL|(?:^|_)(?:API|ACCESS|PRIVATE|SECRET)_?KEY(?:$|_)', re.I)
_secrets: Set[str] = set()


def _mask(value: str) -> str:
  if value[:1] in '"\'' and value[-1:] == value[:1] and len(value) >= 2:
    return value[0] + REDACTED + value[0]
  return REDACTED


def _setting(match: 're.Match') -> str:
  quote, name, sep, value = match.groups()
  if value.strip('"\'') in ('', REDACTED):
    return match.group(0)
  return f'{quote}{name}{quote}{sep}{_mask(value)}'


def redact(text: str) -> str:
  """`text` with every known secret and every secret-looking value masked."""
  if not text:
    return text
  for secret in sorted(_secrets, key=len, reverse=True):
    if secret in text:
      text = text.replace(secret, REDACTED)
  text = _FLAG.sub(lambda m: m.group(1) + m.group(2) + _mask(m.group(3)), text)
  text = _BEARER.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
  text = _SETTING.sub(_setting, text)
  return _URL_PASSWORD.sub(lambda m: m.group(1) + REDACTED + m.group(3), text)


def add_secret(value: Optional[str]) -> None:
  if value and len(value) >= MIN_LITERAL:
    _secrets.add(value)


def secrets_in_args(args: Iterable[str]) -> Iterator[str]:
  """The values of secret-looking options, also inside a quoted --beam-args string."""
  words = []
  for arg in args:
    try:
      words.extend(shlex.split(arg))
    except ValueError:  # unbalanced quotes
      words.extend(arg.split())
  for i, word in enumerate(words):
    for part in [word] + word.split('=', 1)[1:]:  # --beam-args=--password=X
      flag = re.fullmatch(r'--?(' + _NAME + r')(?:=(.*))?', part, re.I | re.S)
      if flag and flag.group(2):
        yield flag.group(2)
      elif flag and i + 1 < len(words) and not words[i + 1].startswith('-'):
        yield words[i + 1]
    for url in _URL_PASSWORD.finditer(word):
      yield url.group(2)


def secrets_in_environment(environ: Mapping[str, str]) -> Iterator[str]:
  """Values of variables named like secrets ($MLMD_MYSQL_PASSWORD, $AWS_SECRET_ACCESS_KEY,
  $KFP_TOKEN…); short ones only when the name says password (`true` is nobody's token)."""
  for name, value in environ.items():
    if _ENV_NAME.search(name) and (len(value) >= MIN_ENV_LITERAL or 'PASS' in name.upper()):
      yield value


class RedactingStream:
  """A text stream that masks secrets in everything written to it."""

  def __init__(self, stream):
    self._stream = stream

  def write(self, text):
    self._stream.write(redact(text) if isinstance(text, str) else text)
    return len(text)

  def writelines(self, lines):
    for line in lines:
      self.write(line)

  def __getattr__(self, name):
    return getattr(self._stream, name)


class RedactingFilter(logging.Filter):
  """For handlers that write somewhere else than sys.stdout / sys.stderr."""

  def filter(self, record: logging.LogRecord) -> bool:
    message = record.getMessage()
    clean = redact(message)
    if clean != message:
      record.msg, record.args = clean, None
    return True


@contextlib.contextmanager
def protect_output(argv: Iterable[str], environ: Mapping[str, str] = os.environ):
  """Everything this process prints through Python (print, logging, warnings, tracebacks) is
  redacted while inside; the secrets are found in argv and the environment. Enter it before
  any logging handler is made, so that handlers hold the redacting streams."""
  for value in list(secrets_in_args(argv)) + list(secrets_in_environment(environ)):
    add_secret(value)
  saved = sys.stdout, sys.stderr
  sys.stdout, sys.stderr = RedactingStream(sys.stdout), RedactingStream(sys.stderr)
  try:
    yield
  finally:
    for stream in (sys.stdout, sys.stderr):
      with contextlib.suppress(Exception):
        stream.flush()
    sys.stdout, sys.stderr = saved


# ---- The run summary's commands -----------------------------------------------------------
# Each runs exactly as printed, from any directory: absolute paths, the real version, examples
# from the run's own data set (inspection.report.write_try_examples).


def summary_commands(summary, output_dir: str, examples: Optional[str] = None,
                     example_labels: str = '', runs_in_store: int = 1,
                     store_options: str = '') -> Dict[str, str]:
  """{label: command} for the summary's last lines; `examples` is an .npy of eval examples
  (report.write_try_examples); `compare` is offered once the store holds two runs;
  `store_options` reach a store other than the output dir's SQLite (store.store_options)."""
  import shlex as quote
  from pipeline.commands import command
  output_dir = os.path.abspath(output_dir)
  inspect = f'{command("inspect")} --output-dir {quote.quote(output_dir)}' + (
      f' {store_options}' if store_options else '')
  version = summary.pushed_version or summary.already_serving
  lines = {'Inspect': f'{inspect} ' + (f'lineage {version}' if version else 'runs')}
  if runs_in_store >= 2:
    lines['Compare'] = f'{inspect} compare'
  model_run = summary.uris.get('ModelRun')
  if model_run and '://' not in model_run:
    tensorboard = os.path.join(os.path.dirname(os.path.abspath(sys.executable)), 'tensorboard')
    if os.path.exists(tensorboard):
      lines['TensorBoard'] = (f'{tensorboard} --logdir {quote.quote(os.path.dirname(model_run))} '
                              '  # then open http://localhost:6006')
  if version and summary.pushed_dir and examples:
    lines['Try it'] = (f'{command("predict")} --model {quote.quote(os.path.abspath(summary.pushed_dir))} '
                       f'{quote.quote(examples)}' + (f'  # true: {example_labels}' if example_labels else ''))
  return lines
