"""Checks of `kubeflow compile` values, refused with one line before anything is compiled or
written (a bad value would otherwise land in the spec and fail on the cluster). No heavy imports:
the CLI runs these before loading TFX."""
import os
import re

from kubeflow import DEFAULT_MLMD_ADDRESS

URI_SCHEMES = ('gs', 's3')

# KFP and Kubernetes names: lower-case letters, digits and dashes (KubeflowV2 rejects '_').
_PIPELINE_NAME = re.compile(r'[a-z0-9][a-z0-9-]{0,127}')
# The OCI/Docker image reference grammar (github.com/distribution/reference, regexp.go).
_DOMAIN = r'(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?'
_PATH = r'[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*'
_IMAGE = re.compile(rf'(?:{_DOMAIN}/)?{_PATH}(?:/{_PATH})*(?::[\w][\w.-]{{0,127}})?'
                    r'(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?',
                    re.ASCII)


def check_output(path: str) -> str:
  if not path.endswith(('.yaml', '.yml')):
    raise ValueError(f'--output must end in .yaml or .yml, got {path}')
  return path


def check_pipeline_name(name: str) -> str:
  if not _PIPELINE_NAME.fullmatch(name):
    raise ValueError(f'--pipeline-name {name!r}: use 1-128 lower-case letters, digits and dashes, '
                     'starting with a letter or digit')
  return name


def check_image(image: str) -> str:
  if not _IMAGE.fullmatch(image):
    raise ValueError(f'--image {image!r} is not an image reference '
                     '(REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST]: a lower-case repository, '
                     'no spaces)')
  return image


def check_location(flag: str, location: str, volume_ok: bool = True) -> str:
  """A gs:// or s3:// URI or, where `volume_ok`, an absolute path (a volume the pods mount).

  The pipeline root is not volume_ok: KFP's launcher takes only an object-store root
  (backend/src/v2/objectstore ParseBucketConfig: "unrecognized pipeline root format"), and so
  does Vertex. TFX writes to these locations with TensorFlow's and Beam's file I/O, which have no
  minio://, query strings or fragments."""
  kinds = 'gs://BUCKET/PATH, s3://BUCKET/PATH' + (' or an absolute path' if volume_ok else '')
  if not location or any(c.isspace() or not c.isprintable() for c in location):
    raise ValueError(f'{flag} {location!r}: must not be empty or contain spaces or control characters')
  scheme, sep, rest = location.partition('://')
  if sep:
    if scheme == 'minio':
      raise ValueError(f'{flag} {location}: TFX cannot write to minio:// URIs; use '
                       f's3://{rest} with the MinIO endpoint in AWS_ENDPOINT_URL '
                       '(see README, "Run on Kubeflow", step 2)')
    if scheme not in URI_SCHEMES:
      raise ValueError(f'{flag} {location}: unsupported scheme {scheme}://; use {kinds}')
    bucket, _, path = rest.partition('/')
    if not bucket:
      raise ValueError(f'{flag} {location}: names no bucket ({scheme}://BUCKET/PATH)')
    if flag != '--pipeline-root' and not path.strip('/'):
      raise ValueError(f'{flag} {location}: name a folder inside the bucket ({scheme}://{bucket}/PATH)')
  elif not volume_ok:
    raise ValueError(f'{flag} {location}: use {kinds} (KFP and Vertex take only an object-store '
                     'root; MinIO is s3://)')
  elif not os.path.isabs(location):
    raise ValueError(f'{flag} {location}: not {kinds} (the pods cannot resolve a relative path)')
  path = rest if sep else location
  if any(c in path for c in '?#') or '..' in path.split('/') or '//' in path.rstrip('/'):
    raise ValueError(f'{flag} {location}: no query, fragment, "//" or ".." in the path')
  return location.rstrip('/') or '/'


def check_mlmd_address(address: str) -> str:
  host, sep, port = address.rpartition(':')
  bracketed = host.startswith('[') and host.endswith(']')  # an IPv6 literal: [::1]:8080
  if not sep or not host or any(c.isspace() or c in '/@?#' for c in host) \
      or (':' in host and not bracketed) or not (port.isascii() and port.isdigit()) \
      or not 0 < int(port) < 65536:
    raise ValueError(f'--mlmd-address {address!r}: expected HOST:PORT, e.g. {DEFAULT_MLMD_ADDRESS}')
  return address
