"""Uploads a compiled pipeline.yaml to a Kubeflow Pipelines 2.x endpoint with kfp.Client:
a new pipeline, or a new version of the pipeline with that name; optionally starts a run."""
import datetime
import os
import socket
from typing import Any, Dict, List, Optional

import yaml

TOKEN_ENV = 'KFP_TOKEN'  # a bearer token for endpoints that need one (never a flag)
_TYPES = {'NUMBER_INTEGER': int, 'NUMBER_DOUBLE': float, 'STRING': str, 'BOOLEAN': None}


class UploadError(RuntimeError):
  """One user-facing line: what failed, against which host, and why."""


def read_package(path: str) -> Dict[str, Any]:
  try:
    with open(path) as f:
      spec = yaml.safe_load(f)
  except OSError as e:
    raise UploadError(f'{path}: cannot read the package ({e.strerror})') from None
  except yaml.YAMLError as e:
    raise UploadError(f'{path}: not a YAML pipeline package ({str(e).splitlines()[0]})') from None
  if not isinstance(spec, dict) or 'root' not in spec or 'pipelineInfo' not in spec:
    raise UploadError(f'{path}: not a compiled pipeline (no pipelineInfo/root); '
                      'make it with `python -m kubeflow compile`')
  return spec


def parse_params(spec: Dict[str, Any], assignments: List[str]) -> Dict[str, Any]:
  """['epochs=3', …] → typed values, checked against the package's pipeline parameters."""
  declared = spec['root'].get('inputDefinitions', {}).get('parameters', {})
  params = {}
  for item in assignments or []:
    name, sep, raw = item.partition('=')
    if not sep:
      raise UploadError(f'--param {item!r}: expected NAME=VALUE')
    if name not in declared:
      raise UploadError(f'--param {name}: not a parameter of this pipeline '
                        f'(it has: {", ".join(sorted(declared)) or "none"})')
    ptype = declared[name].get('parameterType', 'STRING')
    try:
      if ptype == 'BOOLEAN':
        if raw.lower() not in ('true', 'false'):
          raise ValueError(raw)
        params[name] = raw.lower() == 'true'
      else:
        params[name] = _TYPES.get(ptype, str)(raw)
    except ValueError:
      raise UploadError(f'--param {name}={raw}: not a valid {ptype.lower()}') from None
  return params


def _describe(error: Exception, host: str) -> str:
  """Turns kfp/urllib3 errors into one line naming the host and the cause."""
  import kfp_server_api
  import urllib3
  if isinstance(error, kfp_server_api.ApiException):
    status = error.status
    if status in (401, 403):
      cause = f'authentication failed (HTTP {status}); pass credentials or a token that the ' \
              'endpoint accepts'
    else:
      body = (error.body or '').strip().replace('\n', ' ')
      cause = f'HTTP {status} {error.reason}: {body[:300]}'
    return f'{host}: request refused: {cause}'
  if isinstance(error, urllib3.exceptions.MaxRetryError):
    reason = error.reason
    text = str(getattr(reason, 'args', [''])[-1] if reason is not None else error)
    if 'Errno' in text:
      text = text[text.index('[Errno'):]
    return f'{host}: cannot reach the Kubeflow Pipelines API ({text})'
  if isinstance(error, (socket.timeout, TimeoutError, urllib3.exceptions.TimeoutError)):
    return f'{host}: no answer from the Kubeflow Pipelines API (timed out)'
  if isinstance(error, (OSError, urllib3.exceptions.HTTPError)):
    return f'{host}: cannot reach the Kubeflow Pipelines API ({error})'
  return f'{host}: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ""}'


def _client_class():
  import kfp  # only when needed: the checks before it need no client

  class Client(kfp.Client):
    """kfp.Client whose health check is tried once: the stock one retries 5 times, 5 s apart,
    so a refused login would take half a minute to report."""

    def get_kfp_healthz(self, sleep_duration=5):
      return self._healthz_api.get_healthz()

  return Client


def upload(host: str, package: str, name: Optional[str] = None, run: bool = False,
           param_assignments: Optional[List[str]] = None, pipeline_root: Optional[str] = None,
           experiment: str = 'Default', timeout: float = 30.0,
           log=print) -> Dict[str, Optional[str]]:
  """Returns the ids it created: pipeline_id, version_id and, with run=True, run_id."""
  spec = read_package(package)
  name = name or spec['pipelineInfo']['name']
  params = parse_params(spec, param_assignments)
  if (params or pipeline_root) and not run:
    raise UploadError('--param and --pipeline-root only apply with --run')
  stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S')

  previous_timeout = socket.getdefaulttimeout()
  socket.setdefaulttimeout(timeout)  # kfp sets none of its own: a silent host would hang
  try:
    client = _client_class()(host=host, existing_token=os.environ.get(TOKEN_ENV) or None)
    pipeline_id = client.get_pipeline_id(name)
    if pipeline_id is None:
      pipeline = client.upload_pipeline(package, pipeline_name=name,
                                        description='MNIST on TFX (compiled by kubeflow compile)')
      pipeline_id = pipeline.pipeline_id
      versions = client.list_pipeline_versions(pipeline_id, page_size=1).pipeline_versions or []
      version_id = versions[0].pipeline_version_id if versions else None
      log(f'Uploaded new pipeline {name!r} (id {pipeline_id})')
    else:
      version = client.upload_pipeline_version(package, pipeline_version_name=f'{name}-{stamp}',
                                               pipeline_id=pipeline_id)
      version_id = version.pipeline_version_id
      log(f'Uploaded version {name}-{stamp} of pipeline {name!r} (id {pipeline_id})')
    result = {'pipeline_id': pipeline_id, 'version_id': version_id, 'run_id': None}
    if run:
      experiment_id = client.create_experiment(experiment).experiment_id
      response = client.run_pipeline(experiment_id, f'{name} {stamp}', params=params,
                                     pipeline_id=pipeline_id, version_id=version_id,
                                     pipeline_root=pipeline_root)
      result['run_id'] = response.run_id
      log(f'Started run {response.run_id} in experiment {experiment!r}')
    return result
  except UploadError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    raise UploadError(_describe(e, host)) from None
  finally:
    socket.setdefaulttimeout(previous_timeout)
