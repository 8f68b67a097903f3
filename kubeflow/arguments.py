"""Checks of `kubeflow compile` values, refused with one line before anything is compiled or
written (a bad value would otherwise land in the spec and fail on the cluster). No heavy imports:
the CLI runs these before loading TFX."""

import os
import re
import shlex
from typing import Dict, Optional

from kubeflow import DEFAULT_MLMD_ADDRESS, releases
from kubeflow.display import without_userinfo
from kubeflow.upload import UsageError, check_namespace
from pipeline import secrets

URI_SCHEMES = ('gs', 's3')

# KFP and Kubernetes names: lower-case letters, digits and dashes (KubeflowV2 rejects '_').
_PIPELINE_NAME = re.compile(r'[a-z0-9][a-z0-9-]{0,127}')
# The OCI/Docker image reference grammar (github.com/distribution/reference, regexp.go).
_LABEL_CHARS = r'[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?'
_DOMAIN = rf'(?:{_LABEL_CHARS})(?:\.{_LABEL_CHARS})*(?::[0-9]+)?'
_PATH = r'[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*'
_IMAGE = re.compile(
  rf'(?:{_DOMAIN}/)?{_PATH}(?:/{_PATH})*(?::[\w][\w.-]{{0,127}})?'
  r'(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?',
  re.ASCII,
)


# A DNS name (RFC 1123 labels), an IPv4 address or a bracketed IPv6 literal: what a gRPC target's
# host can be. Nothing a shell or a URL would read otherwise (";", "$", "/", "@", spaces).
_LABEL = r'[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
_HOST = re.compile(rf'(?:{_LABEL})(?:\.{_LABEL})*\.?|\[[0-9A-Fa-f:.]+\]', re.ASCII)
# The value is copied into the arguments of every Beam task and ExampleGen's driver hook, in the
# YAML and the JSON: a few hundred characters cover a Dataflow or Flink set-up.
MAX_BEAM_ARGS = 4096
# Beam's options whose names look secret but whose values are not: a key's resource name, OAuth
# scopes, flags (apache_beam/options/pipeline_options.py, Beam 2.x in requirements.lock). Its
# s3_access_key_id, s3_secret_access_key and s3_session_token are refused.
_NOT_SECRET_BEAM_OPTIONS = (
  '--dataflow_kms_key',
  '--gcp_oauth_scope',
  '--gcp_oauth_scopes',
  '--enable_hot_key_logging',
  '--no_auth',
  '--allow_non_deterministic_key_coders',
)


def check_output(path: str) -> str:
  if not path.endswith(('.yaml', '.yml')):
    raise ValueError(f'--output must end in .yaml or .yml, got {path}')
  return path


def check_pipeline_name(name: str) -> str:
  if not _PIPELINE_NAME.fullmatch(name):
    raise ValueError(
      f'--pipeline-name {name!r}: use 1-128 lower-case letters, digits and dashes, '
      'starting with a letter or digit'
    )
  return name


def check_image(image: str) -> str:
  if not _IMAGE.fullmatch(image):
    raise ValueError(
      f'--image {image!r} is not an image reference '
      '(REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST]: a lower-case repository, '
      'no spaces)'
    )
  return image


def check_location(flag: str, location: str, volume_ok: bool = True) -> str:
  """A gs:// or s3:// URI or, where `volume_ok`, an absolute path (a volume the pods mount).

  The pipeline root is not volume_ok: KFP's launcher takes only an object-store root
  (backend/src/v2/objectstore ParseBucketConfig: "unrecognized pipeline root format"), and so
  does Vertex. TFX writes to these locations with TensorFlow's and Beam's file I/O, which have no
  minio://, query strings or fragments."""
  kinds = 'gs://BUCKET/PATH, s3://BUCKET/PATH' + (' or an absolute path' if volume_ok else '')
  if not location or any(c.isspace() or not c.isprintable() for c in location):
    raise ValueError(
      f'{flag} {without_userinfo(location)!r}: must not be empty or contain spaces or control '
      'characters'
    )
  scheme, sep, rest = location.partition('://')
  if sep and '@' in rest.partition('/')[0]:
    raise ValueError(
      f'{flag} {without_userinfo(location)}: credentials in the URI would be written in clear into '
      'pipeline.yaml and pipeline.json; give them to the pods in the environment from a Kubernetes '
      'secret (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a Google service account)'
    )
  if sep:
    if scheme == 'minio':
      raise ValueError(
        f'{flag} {location}: TFX cannot write to minio:// URIs; use '
        f's3://{rest} with the MinIO endpoint in AWS_ENDPOINT_URL '
        '(see docs/how-to/kubeflow.md, "Give the pods storage")'
      )
    if scheme not in URI_SCHEMES:
      raise ValueError(f'{flag} {location}: unsupported scheme {scheme}://; use {kinds}')
    bucket, _, path = rest.partition('/')
    if not bucket:
      raise ValueError(f'{flag} {location}: names no bucket ({scheme}://BUCKET/PATH)')
    if flag != '--pipeline-root' and not path.strip('/'):
      raise ValueError(
        f'{flag} {location}: name a folder inside the bucket ({scheme}://{bucket}/PATH)'
      )
  elif not volume_ok:
    raise ValueError(
      f'{flag} {location}: use {kinds} (KFP and Vertex take only an object-store '
      'root; MinIO is s3://)'
    )
  elif not os.path.isabs(location):
    raise ValueError(f'{flag} {location}: not {kinds} (the pods cannot resolve a relative path)')
  path = rest if sep else location
  if any(c in path for c in '?#') or '..' in path.split('/') or '//' in path.rstrip('/'):
    raise ValueError(f'{flag} {location}: no query, fragment, "//" or ".." in the path')
  return location.rstrip('/') or '/'


def check_mlmd_address(address: str) -> str:
  host, sep, port = address.rpartition(':')
  if (
    not sep
    or not _HOST.fullmatch(host)
    or not (port.isascii() and port.isdigit())
    or not 0 < int(port) < 65536
  ):
    raise ValueError(f'--mlmd-address {address!r}: expected HOST:PORT, e.g. {DEFAULT_MLMD_ADDRESS}')
  return address


def _secret_setting(value: str) -> Optional[str]:
  """The name of a secret-looking setting inside an option's value (JSON or `name: value`
  text, e.g. --environment_config={"env": {"AWS_SECRET_ACCESS_KEY": "…"}}), or of a URL password;
  None when there is none. pipeline/secrets.py says what looks secret."""
  if secrets.redact(value) == value:
    return None
  for key in re.findall(r'["\']?([A-Za-z0-9_.-]+)["\']?[ \t]*[:=]', value):
    if secrets.redact(f'"{key}": "x"') != f'"{key}": "x"':
      return key
  return 'a password in a URL' if re.search(r'://[^/@\s]*:[^/@\s]*@', value) else 'a secret'


def check_beam_args(text: str) -> str:
  """Refuses --beam-args that would not parse, that are oversized, or that carry a secret: the
  value is written in clear into pipeline.yaml and pipeline.json. Secret-looking is what the
  console masks (pipeline/secrets.py): an option named like a secret, or a value that holds a
  secret-looking setting (JSON included) or a URL password. The message never repeats the value."""
  if len(text) > MAX_BEAM_ARGS:
    raise ValueError(
      f'--beam-args: {len(text)} characters, more than {MAX_BEAM_ARGS}; the value is '
      "copied into every Beam task's arguments"
    )
  try:
    words = shlex.split(text)
  except ValueError as e:
    raise ValueError(
      f'--beam-args: cannot split into options: {str(e).lower()} '
      '(quote it once for the shell, e.g. --beam-args \'--runner=X --opt="a b"\')'
    ) from None
  how = (
    'which would be written in clear into pipeline.yaml and pipeline.json; put it in a '
    "Kubernetes secret and give it to the pods (and Beam's workers) in the environment, e.g. "
    'AWS_SECRET_ACCESS_KEY from secret mlpipeline-minio-artifact'
  )
  option = None
  for i, word in enumerate(words):
    option = word.partition('=')[0] if word.startswith('-') else option
    value = word.partition('=')[2] if word.startswith('-') else word
    if word.startswith('-') and option not in _NOT_SECRET_BEAM_OPTIONS:
      takes_next = '=' not in word and i + 1 < len(words) and not words[i + 1].startswith('-')
      pair = words[i : i + 2] if takes_next else words[i : i + 1]
      if any(secrets.secrets_in_args([shlex.quote(w) for w in pair])):
        raise ValueError(f'--beam-args: option {option} looks like a secret, {how}')
    found = _secret_setting(value)
    if found:
      where = f'the value of option {option}' if option else 'a value'
      raise ValueError(f'--beam-args: {where} holds {found}, {how}')
  # A JSON value the shell did not keep whole ({"env": {"KEY": "…"}} unquoted) is split over
  # several words: read again as one text.
  found = _secret_setting(
    ' '.join(w for w in words if w.partition('=')[0] not in _NOT_SECRET_BEAM_OPTIONS)
  )
  if found:
    raise ValueError(f'--beam-args: an option holds {found}, {how}')
  return text


def check_release_locations(
  kfp_version: Optional[str], namespace: Optional[str], locations: Dict[str, str]
) -> None:
  """With --kfp-version: refuses locations the release's object store would deny (releases.py)."""
  if namespace is not None and kfp_version is None:
    raise ValueError('--multi-user needs --kfp-version X.Y (the rules depend on the release)')
  if kfp_version is None:
    return
  version = releases.parse_version(kfp_version)
  if namespace is not None:
    try:
      check_namespace(namespace, '--multi-user')
    except UsageError as e:
      raise ValueError(str(e)) from None
  for flag, uri in locations.items():
    releases.check_location(flag, uri, version, namespace)
