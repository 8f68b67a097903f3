"""`mnist-tfx kubeflow serve-manifest`: a KServe InferenceService for the pushed model.

The serving dir (`--serving-dir`, the Pusher's destination: numbered SavedModel versions) is the
layout TF Serving reads, so the manifest only names it: KServe's storage initializer copies
`storageUri` to /mnt/models and its TensorFlow runtime starts `tensorflow_model_server
--model_name=<name> --model_base_path=/mnt/models`, which serves the newest version
(kserve/kserve config/runtimes/kserve-tensorflow-serving.yaml, v0.20.0). The fields and types are
those of KServe's CRD (config/crd/full/serving.kserve.io_inferenceservices.yaml, v0.20.0;
tests/kubeflow/test_serve_manifest.py checks the manifest against them).

The stock runtime's image is tensorflow/serving:2.6.2 (config/runtimes/kustomization.yaml, v0.20.0),
older than the TensorFlow the model is trained with; `runtimeVersion` picks the TF Serving
release of the pinned tensorflow-serving-api instead."""

import argparse
import importlib.metadata
import re
from typing import Any, Dict, Optional

import yaml

from kubeflow.display import without_userinfo
from kubeflow.upload import UploadError, UsageError, check_namespace

API_VERSION = 'serving.kserve.io/v1beta1'
KIND = 'InferenceService'
MODEL_FORMAT = {'name': 'tensorflow', 'version': '2'}  # kserve-tensorflow-serving: versions 1, 2
PROTOCOL = 'v1'  # the runtime's protocolVersions: v1 (TF Serving's REST), grpc-v1
DEFAULT_NAME = 'mnist'
# The REST path the predictor answers: TF Serving's, with --model_name={{.Name}}.
PREDICT_PATH = '/v1/models/{name}:predict'
_ISVC_NAME = re.compile(r'[a-z]([-a-z0-9]{0,61}[a-z0-9])?')  # KServe's IsvcNameFmt (63 at most)
# A service account name: a DNS-1123 subdomain.
_SUBDOMAIN = re.compile(r'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')
_VERSION = re.compile(r'\d{1,3}\.\d{1,3}\.\d{1,3}(-[0-9A-Za-z.-]{1,32})?', re.ASCII)


def tf_serving_version() -> str:
  """The TF Serving release matching the project: tensorflow-serving-api's version in the lock."""
  return importlib.metadata.version('tensorflow-serving-api')


def storage_uri(serving_dir: str) -> str:
  """What KServe's storage initializer downloads: s3://, gs:// or pvc://NAME/PATH. An s3:// prefix
  gets its trailing "/": the initializer lists the prefix as given (kserve_storage.py
  _download_s3), so `…/serving` would also bring `…/serving-b/`."""
  if not serving_dir or any(c.isspace() or not c.isprintable() for c in serving_dir):
    raise UsageError('--serving-dir: must not be empty or contain spaces or control characters')
  scheme, sep, rest = serving_dir.partition('://')
  where, _, path = rest.partition('/')
  if not sep or scheme not in ('s3', 'gs', 'pvc') or not where or not path.strip('/'):
    raise UsageError(
      f'--serving-dir {without_userinfo(serving_dir)}: KServe reads s3://BUCKET/PATH, '
      "gs://BUCKET/PATH or pvc://CLAIM/PATH (the Pusher's --serving-dir)"
    )
  if '@' in where:
    raise UsageError(
      f'--serving-dir {without_userinfo(serving_dir)}: no credentials in the URI; the storage '
      "initializer takes them from the service account's secret (--service-account)"
    )
  if any(c in path for c in '?#') or '..' in path.split('/'):
    raise UsageError(f'--serving-dir {serving_dir}: no query, fragment or ".." in the path')
  uri = serving_dir.rstrip('/')
  return uri + '/' if scheme == 's3' else uri


def manifest(
  serving_dir: str,
  name: str = DEFAULT_NAME,
  namespace: Optional[str] = None,
  service_account: Optional[str] = None,
  runtime_version: Optional[str] = None,
) -> Dict[str, Any]:
  if not _ISVC_NAME.fullmatch(name):
    raise UsageError(
      f'--name {name!r}: KServe takes 1-63 lower-case letters, digits and "-", starting with a '
      'letter and ending with a letter or digit'
    )
  if namespace is not None:
    check_namespace(namespace)
  if service_account is not None and not (
    _SUBDOMAIN.fullmatch(service_account) and len(service_account) <= 253
  ):
    raise UsageError(f'--service-account {service_account!r}: not a Kubernetes name')
  version = runtime_version or tf_serving_version()
  if not _VERSION.fullmatch(version):
    raise UsageError(f'--runtime-version {version!r}: a TF Serving release, e.g. 2.16.1')
  metadata: Dict[str, Any] = {'name': name}
  if namespace:
    metadata['namespace'] = namespace
  predictor: Dict[str, Any] = {}
  if service_account:
    predictor['serviceAccountName'] = service_account
  predictor['model'] = {
    'modelFormat': dict(MODEL_FORMAT),
    'protocolVersion': PROTOCOL,
    'runtimeVersion': version,
    'storageUri': storage_uri(serving_dir),
  }
  return {
    'apiVersion': API_VERSION,
    'kind': KIND,
    'metadata': metadata,
    'spec': {'predictor': predictor},
  }


def add_parser(commands) -> None:
  cmd = commands.add_parser(
    'serve-manifest',
    help='write a KServe InferenceService that serves the pushed versions',
    description='Writes a KServe InferenceService (serving.kserve.io/v1beta1, TensorFlow model '
    'format) whose storageUri is the serving dir of numbered versions: KServe serves the newest. '
    'Needs no network; apply it with kubectl apply -f.',
  )
  cmd.add_argument(
    '--serving-dir',
    required=True,
    metavar='URI',
    help="the Pusher's destination: s3://BUCKET/PATH, gs://BUCKET/PATH or pvc://CLAIM/PATH",
  )
  cmd.add_argument(
    '--name',
    default=DEFAULT_NAME,
    help='the InferenceService and model name (default: %(default)s)',
  )
  cmd.add_argument('--namespace', metavar='NS', help="its namespace (default: kubectl's)")
  cmd.add_argument(
    '--service-account',
    metavar='SA',
    help="the service account whose secret holds the object store's credentials for the storage "
    'initializer',
  )
  cmd.add_argument(
    '--runtime-version',
    metavar='X.Y.Z',
    help="the TF Serving image tag (default: tensorflow-serving-api's version in the lock)",
  )
  cmd.add_argument('--output', metavar='FILE', help='write here instead of to stdout')


def main(args: argparse.Namespace, out) -> str:
  """Writes the manifest (to --output, else `out`); returns the YAML text."""
  text = yaml.safe_dump(
    manifest(
      args.serving_dir, args.name, args.namespace, args.service_account, args.runtime_version
    ),
    sort_keys=False,
  )
  if args.output:
    try:
      with open(args.output, 'w', encoding='utf-8') as f:
        f.write(text)
    except OSError as e:
      raise UploadError(f'--output {args.output}: cannot write ({e.strerror})') from None
  else:
    out.write(text)
  return text
