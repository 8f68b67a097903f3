"""`mnist-tfx kubeflow check`: asks a Kubeflow Pipelines API for its release and mode and prints
what to set for this pipeline there: the root, the kfp-launcher ConfigMap, the pods' variables,
PUBLISH_LOGS, the disk each pod needs and where the run report shows. The rules are
kubeflow/releases.py's."""

import json
import os
from typing import Any, Dict, List, Optional

from components.lib import names
from kubeflow import releases
from kubeflow.releases import Version
from kubeflow.upload import (
  TOKEN_ENV,
  UploadError,
  UsageError,
  _client_class,
  _describe,
  check_namespace,
)

ROOT_PATH = 'mnist'  # the folder this plan suggests under a bucket or an allowed prefix
# The tasks of the compiled pipeline that take MnistExampleGen's Examples as an input artifact
# (tests/kubeflow/test_check.py compares this with the compiled spec).
EXAMPLES_READERS = (
  names.STATISTICS_GEN,
  names.TRAINER,
  names.EVALUATOR,
  names.SERVING_CHECK,
  names.RUN_RESULTS,
)


def read_healthz(host: str, timeout: float) -> Dict[str, Any]:
  """GET /apis/v2beta1/healthz through upload's client (its timeout, token and one-line errors)."""
  try:
    client = _client_class()(timeout, host=host, existing_token=os.environ.get(TOKEN_ENV) or None)
    # The generated model keeps only multi_user; the handler's JSON also has tag_name.
    response = client._healthz_api.get_healthz(
      _preload_content=False, _request_timeout=(timeout, timeout)
    )
  except Exception as e:  # noqa: BLE001
    raise UploadError(_describe(e, host, timeout)) from None
  try:
    body = json.loads(response.data)
  except ValueError:
    raise UploadError(f'{host}{releases.HEALTHZ_PATH}: the answer is not JSON') from None
  if not isinstance(body, dict) or 'multi_user' not in body:
    raise UploadError(
      f'{host}{releases.HEALTHZ_PATH}: no multi_user in the answer; is this the '
      'Kubeflow Pipelines API?'
    )
  return body


def plan(version: Version, multi_user: bool, namespace: Optional[str]) -> List[str]:
  """The lines `check` prints for a release, a mode and (multi-user) a profile namespace."""
  v = releases.name(version)
  store, endpoint = releases.object_store(version)
  launcher_ns = namespace if multi_user else 'kubeflow'
  prefixes = releases.allowed_prefixes(version, namespace if multi_user else None)
  lines = [
    f'Kubeflow Pipelines {v}, '
    + (f'multi-user, profile {namespace}' if multi_user else 'single-user')
  ]
  if version > releases.NEWEST_READ:
    lines.append(
      f'  (newer than the releases read, {releases.TAGS_READ[-1]}: its rules are assumed)'
    )
  compile_flags = f'--kfp-version {v}' + (f' --multi-user {namespace}' if multi_user else '')
  if version < releases.PROVIDERS_SINCE:
    lines += [
      f"Object store: the stock {store} ({endpoint}) cannot hold this pipeline's root on {v}: the "
      'launcher takes a custom endpoint only from a query string on the root, which TFX cannot '
      'use.',
      "Pipeline root: gs://BUCKET/mnist (the pods' Google service account) or s3://BUCKET/mnist on "
      'AWS S3 (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION and AWS_DEFAULT_REGION in the '
      "pods: the launcher opens s3:// with the AWS SDK's environment).",
      f'kfp-launcher ConfigMap: no providers setting on {v}; set only defaultPipelineRoot if you '
      'like.',
      f'Compile flags (with --output and --image): {compile_flags} --pipeline-root gs://BUCKET/mnist',
    ]
  else:
    base = f's3://{releases.BUCKET}/' + (prefixes[0] if prefixes else '') + ROOT_PATH
    yaml_text = releases.providers_yaml(version, endpoint)
    lines += [
      f'Object store: {store} at {endpoint} (stock install)',
      f'Pipeline root: {base}  (serving dir: {base}/serving, data: {base}/data/mnist)',
    ]
    if prefixes:
      lines.append(
        f'  profile {namespace} may only use s3://{releases.BUCKET}/{prefixes[0]}… (or '
        f'{", ".join(prefixes[1:])}): anything else is AccessDenied'
      )
    lines += [
      f"kfp-launcher ConfigMap (namespace {launcher_ns}): add `providers` for the launcher's "
      'own reads and writes, keeping its other keys: put the `data:` block below in '
      'kfp-launcher-providers.yaml and run',
      f'  kubectl -n {launcher_ns} patch configmap kfp-launcher --type merge '
      '--patch "$(cat kfp-launcher-providers.yaml)"',
      '  with',
      '  data:',
      '    providers: |',
    ]
    lines += ['      ' + line for line in (yaml_text or '').splitlines()]
    if multi_user:
      lines.append(f'  ({releases.PROFILE_CONFIGMAP_NOTE})')
    lines += [
      f"Pods' environment (TFX's own file I/O): AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from "
      f'secret {releases.SECRET[0]} (keys {releases.SECRET[1]}, {releases.SECRET[2]}), '
      f'AWS_ENDPOINT_URL=http://{endpoint}, AWS_DEFAULT_REGION=us-east-1',
      f'Compile flags (with --output and --image): {compile_flags} --pipeline-root {base}',
    ]
  if version >= releases.PUBLISH_LOGS_SINCE:
    lines.append(f'PUBLISH_LOGS: {releases.PUBLISH_LOGS_SETTING}')
  else:
    lines.append(f'PUBLISH_LOGS: not on {v} (from 2.5): nothing to set')
  lines.append(
    f'Disk per pod: {releases.DISK_RULE}; {", ".join(EXAMPLES_READERS)} each copy '
    'the whole Examples: give each pod an '
    'ephemeral-storage request above that (see it with: aws s3 ls --summarize '
    '--recursive <root>/<pipeline>/<run>/MnistExampleGen/)'
  )
  lines.append(f'HTML report: {releases.html_report(version, multi_user)}')
  return lines


def run(
  host: str, namespace: Optional[str], timeout: float, kfp_version: Optional[str] = None, log=print
) -> None:
  """Prints the plan; raises UsageError / UploadError with one line."""
  if namespace is not None:
    check_namespace(namespace)
  if kfp_version is not None:
    try:
      forced = releases.parse_version(kfp_version)
    except ValueError as e:
      raise UsageError(str(e)) from None
  if not timeout > 0:
    raise UsageError(f'--timeout {timeout:g}: must be more than 0 seconds')
  health = read_healthz(host, timeout)
  tag = str(health.get('tag_name', 'unknown'))
  if kfp_version is not None:
    version = forced
  else:
    try:
      version = releases.parse_version(tag, f'{host}: tag_name')
    except ValueError:
      raise UsageError(
        f'{host}: the API does not say its release (tag_name {tag!r}); pass --kfp-version X.Y'
      ) from None
  multi_user = bool(health['multi_user'])
  if multi_user and not namespace:
    raise UsageError(
      f'{host}: this Kubeflow Pipelines is multi-user: pass --namespace (your profile namespace)'
    )
  if not multi_user and namespace:
    log(f'{host} is single-user: --namespace {namespace} does not apply')
    namespace = None
  log(f'{host}: tag_name {tag}, multi_user {str(multi_user).lower()}')
  for line in plan(version, multi_user, namespace):
    log(line)
