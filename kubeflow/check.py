"""`mnist-tfx kubeflow check`: asks a Kubeflow Pipelines endpoint (its API server, or the UI in
front of it) for its release and mode, or takes them from `--kfp-version` (offline), and prints
what to set for this pipeline there: the root, the kfp-launcher ConfigMap, the pods' variables,
PUBLISH_LOGS, the disk each pod needs and where the run report shows. The rules are
kubeflow/releases.py's."""

import os
from typing import List, Optional

from components.lib import names
from kubeflow import healthz, releases
from kubeflow.releases import Version
from kubeflow.upload import TOKEN_ENV, UploadError, UsageError, check_namespace

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
# Outputs of one task whose key begins with another's: up to 2.16 the launcher's download of the
# first pulls the second too (releases.EXACT_DOWNLOAD_SINCE). Checked against the compiled spec.
PREFIX_SIBLINGS = {(names.TRAINER, 'model'): ('model_run',)}


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
    lines.append(f'Object store: {store} at {endpoint} (stock install)')
    root = base
    own = multi_user and namespace and releases.root_needs_own_bucket(version, namespace)
    if own and namespace:
      root = f's3://{releases.own_bucket(namespace)}/{ROOT_PATH}'
    lines.append(f'Pipeline root: {root}  (serving dir: {root}/serving, data: {root}/data/mnist)')
    if own and namespace:
      lines.append(
        f'  a bucket of its own: on {v} SeaweedFS 4.00 refuses profile {namespace} the batch '
        f"deletes that Beam's file renames need anywhere in s3://{releases.BUCKET}, and the "
        "HeadBucket of KServe's storage initializer; an admin makes the bucket and lets the "
        f'profile read and write all of it: {releases.grant_own_bucket(namespace)}'
      )
    if (
      store == 'SeaweedFS' and version < releases.SEAWEEDFS_SAME_NAMESPACE_SINCE and not multi_user
    ):
      lines.append(
        f"Warning: on {v} SeaweedFS's NetworkPolicy admits port 8333 only from profile "
        'namespaces and istio-system, so the pods of a single-user install (namespace kubeflow) '
        'cannot reach it; add the rule 2.16.0 adds: ' + releases.NETWORK_POLICY_PATCH
      )
    if prefixes:
      lines.append(
        f'  profile {namespace} may only use s3://{releases.BUCKET}/{prefixes[0]}… (or '
        f'{", ".join(prefixes[1:])}): anything else is AccessDenied; artifacts/ and shared/ are '
        'readable and writable by every profile'
      )
      lines.append(f'  deletes and renames there: {releases.profile_deletes(version)}')
      if version < releases.BATCH_DELETE_PER_KEY_SINCE:
        lines.append(
          '  (a store that reads the policy as AWS IAM does would deny them: grant '
          f'{releases.AWS_READING_GRANTS})'
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
      f'Compile flags (with --output and --image): {compile_flags} --pipeline-root {root}',
    ]
  if version >= releases.PUBLISH_LOGS_SINCE:
    lines.append(f'PUBLISH_LOGS: {releases.PUBLISH_LOGS_SETTING}')
  else:
    lines.append(f'PUBLISH_LOGS: not on {v} (from 2.5): nothing to set')
  disk = (
    f'Disk per pod: {releases.DISK_RULE}; {", ".join(EXAMPLES_READERS)} each copy '
    'the whole Examples'
  )
  if version < releases.EXACT_DOWNLOAD_SINCE:
    pulled = '; '.join(
      f"{task}'s {key} also brings {', '.join(more)}"
      for (task, key), more in PREFIX_SIBLINGS.items()
    )
    disk += f' ({releases.SIBLING_RULE}: {pulled})'
  lines.append(
    disk + ': give each pod an ephemeral-storage request above that (see it with: aws s3 ls '
    '--summarize --recursive <root>/<pipeline>/<run>/MnistExampleGen/); CPU, memory and GPUs: '
    'compile --resources'
  )
  if version >= releases.CACHE_SWITCH_SINCE:
    lines.append(
      'Cache: on unless the API server sets CacheEnabled "false" (then every task of every run '
      'runs); a hit ignores the pipeline root (its outputs stay where the first run wrote them)'
    )
  lines.append(f'HTML report: {releases.html_report(version, multi_user)}')
  return lines


def _release(health: healthz.Health, kfp_version: Optional[str]) -> Version:
  if kfp_version is not None:
    return releases.parse_version(kfp_version)
  try:
    return releases.parse_version(health.tag_name, 'tag_name')
  except ValueError:
    hint = ''
    if health.frontend_tag_name:
      hint = f"; the UI's own release is {health.frontend_tag_name!r}"
    raise UsageError(
      f"{health.url}: {health.endpoint} does not say the API server's release (tag_name "
      f'{health.tag_name!r}{hint}); pass --kfp-version X.Y'
    ) from None


def run(
  host: Optional[str],
  namespace: Optional[str],
  timeout: float,
  kfp_version: Optional[str] = None,
  log=print,
  multi_user_namespace: Optional[str] = None,
) -> None:
  """Prints the plan, asking `host` or (no host) offline from kfp_version and
  multi_user_namespace; raises UsageError / UploadError with one line."""
  for value, flag in ((namespace, '--namespace'), (multi_user_namespace, '--multi-user')):
    if value is not None:
      check_namespace(value, flag)
  if kfp_version is not None:
    try:
      forced = releases.parse_version(kfp_version)
    except ValueError as e:
      raise UsageError(str(e)) from None
  if host is None:
    if kfp_version is None:
      raise UsageError(
        'pass --host URL (ask the cluster) or --kfp-version X.Y [--multi-user NS] (the plan '
        'offline)'
      )
    if namespace is not None:
      raise UsageError('--namespace goes with --host; offline, say --multi-user NAMESPACE')
    multi_user = multi_user_namespace is not None
    log(
      f'Offline plan for Kubeflow Pipelines {releases.name(forced)}, '
      + ('multi-user' if multi_user else 'single-user')
      + ' (nothing was asked of a cluster)'
    )
    for line in plan(forced, multi_user, multi_user_namespace):
      log(line)
    return
  if multi_user_namespace is not None:
    raise UsageError('--multi-user is for the offline plan; with --host, say --namespace NS')
  try:
    health = healthz.read(host, timeout, os.environ.get(TOKEN_ENV) or None)
  except healthz.HealthzError as e:
    raise (UsageError if e.usage else UploadError)(str(e)) from None
  version = _release(health, kfp_version)
  if health.multi_user and not namespace:
    raise UsageError(
      f'{health.url}: this Kubeflow Pipelines is multi-user: pass --namespace (your profile '
      'namespace)'
    )
  if not health.multi_user and namespace:
    log(f'{health.url}: single-user: --namespace {namespace} does not apply')
    namespace = None
  log(
    f'{health.url}: answered by {health.endpoint}: tag_name {health.tag_name}, multi_user '
    f'{str(health.multi_user).lower()}'
  )
  for line in plan(version, health.multi_user, namespace):
    log(line)
