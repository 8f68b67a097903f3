"""Uploads a compiled pipeline.yaml to a Kubeflow Pipelines 2.x endpoint with kfp.Client:
a new pipeline, or a new version of the pipeline with that name; optionally starts a run.

Everything that can be refused is settled before the package is sent: the arguments (no network),
then the endpoint's health check (multi-user or not), the namespace, the pipeline lookup and, with
a run, the experiment. A multi-user backend keeps pipelines, experiments and runs per Kubernetes
namespace and rejects an experiment or run with none, so a missing namespace must stop us before
the upload rather than after it (KFP backend/src/apiserver/server/experiment_server.go,
canAccessExperiment)."""

import datetime
import hashlib
import json
import os
import re
import secrets
from typing import Any, Callable, Dict, List, Optional

import kfp_server_api
import urllib3
import yaml

TOKEN_ENV = 'KFP_TOKEN'  # a bearer token for endpoints that need one (never a flag)
_TYPES: Dict[str, Callable[[str], Any]] = {
  'NUMBER_INTEGER': int,
  'NUMBER_DOUBLE': float,
  'STRING': str,
}  # BOOLEAN: true or false
_NAMESPACE = re.compile(r'[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?')  # a Kubernetes namespace name


class UploadError(RuntimeError):
  """One user-facing line: what failed, against which host, and why."""


class UsageError(UploadError):
  """A problem in the arguments themselves, found before any request: exit code 2."""


def read_package(path: str) -> Dict[str, Any]:
  try:
    with open(path) as f:
      spec = yaml.safe_load(f)
  except OSError as e:
    raise UploadError(f'{path}: cannot read the package ({e.strerror})') from None
  except yaml.YAMLError as e:
    raise UploadError(f'{path}: not a YAML pipeline package ({str(e).splitlines()[0]})') from None
  if not isinstance(spec, dict) or 'root' not in spec or 'pipelineInfo' not in spec:
    raise UploadError(
      f'{path}: not a compiled pipeline (no pipelineInfo/root); '
      'make it with `mnist-tfx kubeflow compile`'
    )
  return spec


def parse_params(spec: Dict[str, Any], assignments: List[str]) -> Dict[str, Any]:
  """['epochs=3', …] → typed values, checked against the package's pipeline parameters."""
  declared = spec['root'].get('inputDefinitions', {}).get('parameters', {})
  params: Dict[str, Any] = {}
  for item in assignments or []:
    name, sep, raw = item.partition('=')
    if not sep:
      raise UsageError(f'--param {item!r}: expected NAME=VALUE')
    if name not in declared:
      raise UsageError(
        f'--param {name}: not a parameter of this pipeline '
        f'(it has: {", ".join(sorted(declared)) or "none"})'
      )
    ptype = declared[name].get('parameterType', 'STRING')
    try:
      if ptype == 'BOOLEAN':
        if raw.lower() not in ('true', 'false'):
          raise ValueError(raw)
        params[name] = raw.lower() == 'true'
      else:
        params[name] = _TYPES.get(ptype, str)(raw)
    except ValueError:
      raise UsageError(f'--param {name}={raw}: not a valid {ptype.lower()}') from None
  return params


def check_namespace(namespace: str, source: str = '--namespace') -> str:
  """Refuses, before any request, a name that no Kubernetes namespace can have."""
  if not _NAMESPACE.fullmatch(namespace):
    raise UsageError(
      f'{source} {namespace!r}: not a Kubernetes namespace name (lowercase '
      'letters, digits and "-", at most 63, starting and ending alphanumeric)'
    )
  return namespace


def version_name(name: str) -> str:
  """`NAME-YYYYmmdd-HHMMSS-XXXXXX`: UTC time, so versions sort by upload time, then 6 random hex
  digits, so two uploads in the same second (or from two machines) still differ; the backend
  refuses a version name that its pipeline already has."""
  stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%d-%H%M%S')
  return f'{name}-{stamp}-{secrets.token_hex(3)}'


def _describe(error: Exception, host: str, timeout: float) -> str:
  """Turns kfp/urllib3 errors into one line naming the host and the cause."""
  if isinstance(error, urllib3.exceptions.MaxRetryError) and error.reason is not None:
    error = error.reason
  if isinstance(error, kfp_server_api.ApiException) and not error.status:  # e.g. a TLS failure
    reason = ' '.join(str(error.reason or error).split())
    return f'{host}: cannot reach the Kubeflow Pipelines API ({reason[:300]})'
  if isinstance(error, kfp_server_api.ApiException):
    status = error.status
    if status in (401, 403):
      cause = (
        f'authentication failed (HTTP {status}); pass credentials or a token that the '
        'endpoint accepts'
      )
    else:
      body = (error.body or '').strip()
      try:  # grpc-gateway's {"message": …}, or the upload handlers' {"error_message": …}
        parsed = json.loads(body)
        body = parsed.get('message') or parsed.get('error_message') or body
      except (ValueError, AttributeError):
        pass
      cause = f'HTTP {status} {error.reason}: {" ".join(body.split())[:300]}'
    return f'{host}: request refused: {cause}'
  if isinstance(error, urllib3.exceptions.NewConnectionError):  # a ConnectTimeoutError in 1.26
    text = str(error)
    return (
      f'{host}: cannot reach the Kubeflow Pipelines API ({text[max(text.find("[Errno"), 0) :]})'
    )
  if isinstance(error, urllib3.exceptions.TimeoutError):
    return f'{host}: no answer from the Kubeflow Pipelines API within {timeout:g} s (--timeout)'
  if isinstance(error, (OSError, urllib3.exceptions.HTTPError)):
    return f'{host}: cannot reach the Kubeflow Pipelines API ({error})'
  return f'{host}: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ""}'


def _client_class():
  import kfp  # deferred: 2 s to import, and the checks before a request need no client

  class Client(kfp.Client):
    """kfp.Client whose every request is bounded by `timeout`, connect and read, and tried once.

    kfp 2.5 sets no timeout, and kfp_server_api 2.0.5's rest.py then passes timeout=None to
    urllib3 on every request, which blocks forever on a host that accepts the connection and never
    answers (socket.setdefaulttimeout does not help: urllib3 sets the socket's timeout itself).
    rest.py honours `_request_timeout` only as an int or a (connect, read) tuple, so a tuple is
    passed on every call. Without retries, a silent host costs one timeout, not four (urllib3's
    default Retry(3) repeats a timed-out GET), and the health check one try (kfp's: 5, 5 s apart).
    """

    _healthz = None

    def __init__(self, timeout: float, **kwargs):
      self._timeout = (timeout, timeout)
      super().__init__(**kwargs)  # may call get_kfp_healthz (with its own timeout)
      rest = self._healthz_api.api_client.rest_client
      request = rest.request
      rest.request = lambda *args, _request_timeout=None, **kw: request(
        *args, _request_timeout=_request_timeout or self._timeout, **kw
      )

    def _load_config(self, *args, **kwargs):
      config = super()._load_config(*args, **kwargs)
      config.retries = urllib3.Retry(total=3, connect=0, read=0)  # redirects still followed
      return config

    def get_kfp_healthz(self, sleep_duration=5):
      if self._healthz is None:
        self._healthz = self._healthz_api.get_healthz(_request_timeout=self._timeout)
      return self._healthz

  return Client


def _by_name(name: str) -> str:
  return json.dumps(
    {'predicates': [{'operation': 'EQUALS', 'key': 'display_name', 'stringValue': name}]}
  )


def upload(
  host: str,
  package: str,
  name: Optional[str] = None,
  run: bool = False,
  param_assignments: Optional[List[str]] = None,
  pipeline_root: Optional[str] = None,
  experiment: str = 'Default',
  namespace: Optional[str] = None,
  timeout: float = 30.0,
  log=print,
) -> Dict[str, Optional[str]]:
  """Returns the ids it used: pipeline_id, version_id and, with run=True, experiment_id, run_id.

  namespace: where the pipeline, experiment and run go on a multi-user endpoint (default: kfp's
  own, "namespace" in ~/.config/kfp/context.json); ignored by a single-user one."""
  spec = read_package(package)
  name = name or spec['pipelineInfo']['name']
  params = parse_params(spec, param_assignments or [])
  if (params or pipeline_root) and not run:
    raise UsageError('--param and --pipeline-root only apply with --run')
  if namespace is not None:
    check_namespace(namespace)
  if not timeout > 0:
    raise UsageError(f'--timeout {timeout:g}: must be more than 0 seconds')
  with open(package, 'rb') as f:
    digest = hashlib.sha256(f.read()).hexdigest()
  try:
    client = _client_class()(timeout, host=host, existing_token=os.environ.get(TOKEN_ENV) or None)
    if client.get_kfp_healthz().multi_user:
      if not namespace and client.get_user_namespace():  # kfp's own default, as kfp uses it
        namespace = check_namespace(client.get_user_namespace(), '~/.config/kfp/context.json:')
      if not namespace:
        raise UploadError(
          f'{host}: this Kubeflow Pipelines is multi-user: pass --namespace (your '
          'profile namespace); nothing was uploaded'
        )
    elif namespace:
      log(f'{host} is single-user: --namespace {namespace} does not apply')
      namespace = None
    where = f' in namespace {namespace}' if namespace else ''
    found = client.list_pipelines(filter=_by_name(name), namespace=namespace).pipelines or []
    experiment_id = None
    if run:  # get-or-create, before the upload: an experiment it cannot have stops us here
      experiment_id = client.create_experiment(experiment, namespace=namespace).experiment_id
    version = version_name(name)
    description = f'{os.path.basename(package)} sha256:{digest}'
    if not found:
      pipeline_id = client.upload_pipeline(
        package, pipeline_name=name, description=description, namespace=namespace
      ).pipeline_id
      versions = client.list_pipeline_versions(pipeline_id, page_size=1).pipeline_versions or []
      version_id = versions[0].pipeline_version_id if versions else None
      log(f'Uploaded new pipeline {name!r}{where} (id {pipeline_id})')
    else:
      pipeline_id = found[0].pipeline_id
      version_id = client.upload_pipeline_version(
        package, pipeline_version_name=version, pipeline_id=pipeline_id, description=description
      ).pipeline_version_id
      log(f'Uploaded version {version} of pipeline {name!r}{where} (id {pipeline_id})')
    result = {
      'pipeline_id': pipeline_id,
      'version_id': version_id,
      'experiment_id': experiment_id,
      'run_id': None,
    }
    if run:
      # The OSS backend ignores the spec's defaultPipelineRoot (it falls back to the kfp-launcher
      # ConfigMap or minio://mlpipeline/v2/artifacts: backend/src/v2/config/env.go), so the
      # run names the compiled root itself.
      response = client.run_pipeline(
        experiment_id,
        version,
        params=params,
        pipeline_id=pipeline_id,
        version_id=version_id,
        pipeline_root=pipeline_root or spec.get('defaultPipelineRoot'),
      )
      result['run_id'] = response.run_id
      log(f'Started run {response.run_id} in experiment {experiment!r}{where}')
    return result
  except UploadError:
    raise
  except Exception as e:  # noqa: BLE001
    raise UploadError(_describe(e, host, timeout)) from None
