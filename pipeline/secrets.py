"""Nothing secret reaches the console: every line a command prints goes through redact().

TFX logs its whole deployment config (every component's beam_pipeline_args) and the ML
Metadata connection config (the MySQL password) with --verbose; Beam logs the pipeline options
it does not know. protect_output() finds the secrets in argv and the environment; the values known
to be secret are replaced wherever they appear, anything that looks like a secret option or
setting is masked too, and a URL's userinfo (user:password@) is stripped. Hand-written: no
library masks secrets in free text.
"""

import contextlib
import logging
import os
import re
import shlex
import sys
from typing import Iterable, Iterator, Mapping, Optional, Set

REDACTED = '***'
MIN_LITERAL = 4  # shorter known secrets are masked only where they look like one (below)
MIN_ENV_LITERAL = 8
_NAME = r'[A-Za-z0-9_.-]*(?:passw(?:or)?d|pwd|secret|token|credential|key|auth)[A-Za-z0-9_.-]*'
# In `name: value` text "key" is too common (protobuf maps, input_key, KeyError: 'x'): only the
# kinds of key that are secrets.
_SETTING_NAME = (
  r'[A-Za-z0-9_.-]*(?:passw(?:or)?d|pwd|secret|token|credential|auth(?!or)|'
  r'(?:api|access|private|client|account|encryption|signing|ssh)[_.-]?key)[A-Za-z0-9_.-]*'
)
_VALUE = r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|[^\s\'",;\]})]+'
# --aws_secret_access_key=X, --password X, -token=X
_FLAG = re.compile(r'(?<![\w/-])(--?' + _NAME + r')(=|[ \t]+)(' + _VALUE + ')', re.I)
# password: "X" (protobuf text), "password": "X" (JSON), AWS_SECRET_ACCESS_KEY=X (environment)
_SETTING = re.compile(
  r'(?<![\w./-])(["\']?)(' + _SETTING_NAME + r')\1([ \t]*[:=][ \t]*)(' + _VALUE + ')', re.I
)
# Authorization: Bearer X
_BEARER = re.compile(r'\b(Bearer|Basic|Token)([ \t]+)([A-Za-z0-9._~+/=-]{4,})')
# scheme://user:password@host: the password, to find it (secrets_in_args)…
_URL_PASSWORD = re.compile(r'(\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@\'"]*:)([^@\s/\'"]+)(@)')
# …and the whole userinfo, to strip it: a user name can be a key too (s3://KEY:SECRET@bucket).
# Up to the last '@' before the path, as URL parsers split it (urllib.parse: rpartition('@')).
_USERINFO = re.compile(r'(\b[A-Za-z][A-Za-z0-9+.-]*://)[^/\s\'"]*@')
_ENV_NAME = re.compile(
  r'PASSW(?:OR)?D|SECRET|TOKEN|CREDENTIAL|(?:^|_)(?:API|ACCESS|PRIVATE|SECRET)_?KEY(?:$|_)', re.I
)
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
  return strip_userinfo(text)


def strip_userinfo(text: str) -> str:
  """`text` with the userinfo of every URL in it removed (`s3://KEY:SECRET@bucket/x` →
  `s3://bucket/x`): for every message that prints a URL a person gave."""
  return _USERINFO.sub(r'\1', text) if '@' in text else text


def refuse_userinfo(flag: str, location: Optional[str]) -> None:
  """ValueError for a location flag whose URL holds credentials: TensorFlow's and Beam's file
  systems take none from a URL, and the location is kept in ML Metadata and the run's logs."""
  if location and strip_userinfo(location) != location:
    raise ValueError(
      f'{flag} {strip_userinfo(location)}: credentials in the URI are not used and would be kept '
      'in ML Metadata; give them in the environment (AWS_ACCESS_KEY_ID and '
      'AWS_SECRET_ACCESS_KEY, or GOOGLE_APPLICATION_CREDENTIALS)'
    )


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
