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
                    r'(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?')


def check_pipeline_name(name: str) -> str:
  if not _PIPELINE_NAME.fullmatch(name):
    raise ValueError(f'--pipeline-name {name!r}: use 1-128 lower-case letters, digits and dashes, '
                     'starting with a letter or digit')
  return name


def check_image(image: str) -> str:
  if not _IMAGE.fullmatch(image):
    raise ValueError(f'--image {image!r} is not an image reference '
                     '(REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST], lower-case, no spaces)')
  return image


def check_location(flag: str, location: str) -> str:
  """A gs:// or s3:// URI, or an absolute path (a volume the pods mount); anything else is refused."""
  if not location or any(c.isspace() or not c.isprintable() for c in location):
    raise ValueError(f'{flag} {location!r}: must not be empty or contain spaces or control characters')
  scheme, sep, rest = location.partition('://')
  if sep:
    if scheme == 'minio':
      raise ValueError(f'{flag} {location}: TFX cannot write to minio:// URIs; use '
                       f's3://{rest} with the MinIO endpoint in AWS_ENDPOINT_URL '
                       '(see README, "Object storage")')
    if scheme not in URI_SCHEMES:
      raise ValueError(f'{flag} {location}: unsupported scheme {scheme}://; use gs://BUCKET/PATH, '
                       's3://BUCKET/PATH or an absolute path')
    if not rest or rest.startswith('/'):
      raise ValueError(f'{flag} {location}: names no bucket ({scheme}://BUCKET/PATH)')
  elif not os.path.isabs(location):
    raise ValueError(f'{flag} {location}: not a gs:// or s3:// URI nor an absolute path '
                     '(the pods cannot resolve a relative one)')
  return location.rstrip('/')


def check_mlmd_address(address: str) -> str:
  host, sep, port = address.rpartition(':')
  if not sep or not host or any(c.isspace() for c in host) or not port.isdigit() \
      or not 0 < int(port) < 65536:
    raise ValueError(f'--mlmd-address {address!r}: expected HOST:PORT, e.g. {DEFAULT_MLMD_ADDRESS}')
  return address
