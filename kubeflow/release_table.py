"""The version table of docs/reference/kubeflow.md, made from kubeflow/releases.py (a test checks
that the page holds exactly this table): one row per tag read, each naming the kubeflow/pipelines
sources whose rules change at that tag."""

from typing import List

from kubeflow import releases

# What changes at each tag, and where it was read (kubeflow/pipelines, at that tag; backend/src/v2
# is shortened to v2/, manifests/kustomize to manifests/).
CHANGES = {
  '2.0.5': (
    'first read: `v2/driver/driver.go`, `v2/component/launcher_v2.go`, '
    '`v2/objectstore/object_store.go`, `v2/metadata/client.go`, `v2/cacheutils/cache.go`, '
    '`frontend/server`, `manifests/`'
  ),
  '2.1.0': 'none of these rules: the files of the row above, read at this tag',
  '2.2.0': '`providers`: `v2/config/env.go` getBucketProviders',
  '2.3.0': (
    '`store_session_info`: `v2/metadata/client.go` RecordArtifact, '
    '`frontend/src/components/viewers/MetricsVisualizations.tsx`'
  ),
  '2.4.0': (
    '`forcePathStyle`: `v2/config/s3.go`; an id in every output URI: `v2/driver/driver.go` '
    'provisionOutputs'
  ),
  '2.4.1': 'none of these rules: the files of the row above, read at this tag',
  '2.5.0': '`executor-logs`: `v2/driver/driver.go` provisionOutputs, `v2/cmd/driver/main.go`',
  '2.14.0': 'the install-wide `CacheEnabled` reaches the compiler: `backend/src/apiserver/main.go`',
  '2.14.4': 'none of these rules (image tags only): the files of the row above, read at this tag',
  '2.15.0': (
    'SeaweedFS 4.00: `manifests/env/platform-agnostic`, `seaweedfs-networkpolicy.yaml` (port '
    '8333 from profile namespaces only); the profile policy: '
    '`pipelines-profile-controller/sync.py` put_user_policy, read by seaweedfs '
    '`weed/iamapi/iamapi_management_handlers.go` GetActions and `weed/s3api/auth_credentials.go` '
    'canDo (tag 4.00)'
  ),
  '2.16.0': (
    'same-namespace access in `seaweedfs-networkpolicy.yaml` (b050f5c906); a failed task records '
    'its log: `v2/component/launcher_v2.go` uploadOutputArtifacts'
  ),
  '2.16.1': '`executor-logs-0`: `v2/component/launcher_v2.go` qualifyExecutorLogsForRetry',
  '2.17.0': (
    '`s3:DeleteObject` and a bucket ListBucket policy: `sync.py` (7ec3c1da27); SeaweedFS 4.34 '
    'checks each key of a batch delete: seaweedfs `weed/s3api/s3api_object_handlers_delete.go`; '
    'inputs without '
    'their siblings: `v2/objectstore/object_store.go` DownloadBlob; session info only in the '
    "UI's namespace: `frontend/server/handlers/artifacts.ts`"
  ),
}
_REPORT_CELL = {
  'no session info': "only if the UI's own s3 settings reach the bucket",
  'yes': "yes, with the artifact's session info",
  "yes in the UI's own namespace (single-user), read with the artifact's store_session_info": (
    'single-user yes; a profile namespace with `ARTIFACTS_PROXY_ENABLED`, or if the '
    "UI's own s3 settings reach the bucket"
  ),
}
_DELETES_CELL = {
  'allowed: no profile policy (every namespace has the same keys)': 'yes (no profile policy)',
  (
    "one key at a time (TensorFlow's renames, the Pusher): allowed, SeaweedFS 4.00 reads the "
    "policy's s3:Put* as its Write action; a batch (Beam's renames): refused, it needs Write "
    'on the whole bucket'
  ): (
    'one key: yes (SeaweedFS 4.00 reads `s3:Put*` as Write); a batch (Beam): no, so the root '
    'goes in a bucket of its own (`compile` says how)'
  ),
  'allowed: the policy grants s3:DeleteObject, and SeaweedFS 4.34 checks each key of a batch': (
    'yes: `s3:DeleteObject`, each key of a batch checked'
  ),
}
TABLE_HEADER = [
  'release',
  'pipeline root',
  '`providers`',
  'object store (stock install)',
  'multi-user prefixes of `mlpipeline`',
  'deletes there (Pusher, renames)',
  'disk per pod',
  'task log',
  'HTML report in the UI',
  'what changes here (source at this tag)',
]


def _store(version: releases.Version) -> str:
  store, endpoint = releases.object_store(version)
  if version < releases.SEAWEEDFS_SINCE:
    return f'{store}, `{endpoint}`'
  if version < releases.SEAWEEDFS_SAME_NAMESPACE_SINCE:
    return (
      f'{store}, `{endpoint}` (also `minio-service.kubeflow:9000`); not from `kubeflow` '
      'itself: see `check`'
    )
  if version < releases.MINIO_SERVICE_UNTIL:
    return f'{store}, `{endpoint}` (also `minio-service.kubeflow:9000`)'
  return f'{store}, `{endpoint}` (also `:9000`)'


def table_rows() -> List[List[str]]:
  rows = []
  for tag in releases.TAGS_READ:
    version = releases.parse_version(tag)
    if version < releases.PROVIDERS_SINCE:
      providers = 'none'
    elif version < releases.FORCE_PATH_STYLE_SINCE:
      providers = 'yes, without `forcePathStyle`'
    else:
      providers = 'yes'
    prefixes = releases.allowed_prefixes(version, '<ns>')
    disk = 'sum of its inputs'
    if version < releases.EXACT_DOWNLOAD_SINCE:
      disk += ', with their prefix siblings'
    rows.append(
      [
        tag,
        releases.root_scheme(version),
        providers,
        _store(version),
        ', '.join(f'`{p}`' for p in prefixes) if prefixes else 'any path',
        _DELETES_CELL[releases.profile_deletes(version)],
        disk,
        releases.task_log(tag),
        _REPORT_CELL[releases.html_report(version).split(':')[0]],
        CHANGES[tag],
      ]
    )
  return rows


def table_markdown() -> str:
  lines = [
    '| ' + ' | '.join(TABLE_HEADER) + ' |',
    '| ' + ' | '.join('---' for _ in TABLE_HEADER) + ' |',
  ]
  lines += ['| ' + ' | '.join(row) + ' |' for row in table_rows()]
  return '\n'.join(lines) + '\n'
