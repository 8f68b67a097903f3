"""What each Kubeflow Pipelines 2.x release does with object storage and the run report: the one
home of these facts, used by `kubeflow compile --kfp-version`, by `kubeflow check` and by the
version table in docs/reference/kubeflow.md (a test compares the two).

Each rule names the kubeflow/pipelines file and function it was read from and the tags read
(2.0.5 2.1.0 2.2.0 2.3.0 2.4.0 2.4.1 2.5.0 2.14.0 2.14.4 2.15.0 2.16.0 2.16.1 2.17.0). There are
no releases 2.6 to 2.13: the repository's tags go from 2.5.0 to 2.14.0. Releases newer than 2.17
are assumed to behave as 2.17.0. Nothing here has been checked against a running cluster."""

import re
from typing import List, Optional, Tuple

Version = Tuple[int, int]
TAGS_READ = (
  '2.0.5',
  '2.1.0',
  '2.2.0',
  '2.3.0',
  '2.4.0',
  '2.4.1',
  '2.5.0',
  '2.14.0',
  '2.14.4',
  '2.15.0',
  '2.16.0',
  '2.16.1',
  '2.17.0',
)
# git tag: 2.5.0 is followed by 2.14.0 (the project aligned its numbers with Kubeflow's).
NO_RELEASES: Tuple[int, int] = (6, 13)
NEWEST_READ: Version = (2, 17)
BUCKET = 'mlpipeline'  # the in-cluster store's bucket (profile controller sync.py S3_BUCKET_NAME)

# backend/src/v2/config/env.go getBucketProviders: the kfp-launcher ConfigMap key `providers`
# ("configBucketProviders"), absent at 2.0.5 and 2.1.0, present from 2.2.0. Before it, the launcher
# opens s3:// with the AWS SDK's environment and takes a custom endpoint only from a query string
# on the root (objectstore/object_store.go OpenBucket, Config.bucketURL, 2.0.5), which
# checks.check_location refuses (TFX's file I/O has no query strings).
PROVIDERS_SINCE: Version = (2, 2)
# backend/src/v2/config/s3.go S3ProviderDefault: forcePathStyle and maxRetries, absent at 2.3.0,
# present from 2.4.0. Parsed with sigs.k8s.io/yaml, which drops unknown keys without an error.
FORCE_PATH_STYLE_SINCE: Version = (2, 4)
# backend/src/v2/metadata/client.go RecordArtifact: store_session_info on each output artifact,
# from 2.3.0 (2.2.0 keeps it on the pipeline context only, GetPipeline).
ARTIFACT_SESSION_INFO_SINCE: Version = (2, 3)
# frontend/src/components/viewers/MetricsVisualizations.tsx getHtmlViewerConfig: passes the
# artifact's store_session_info as providerInfo from 2.3.0 (2.2.0: Apis.readFile(path, namespace)).
UI_SESSION_INFO_SINCE: Version = (2, 3)
# frontend/server/handlers/artifacts.ts getArtifactsHandler, 2.17.0: allowProviderSecrets is false
# unless the request's namespace is the UI server's own; providerInfo is then dropped. Up to 2.16.0
# the multi-user ml-pipeline-ui ClusterRole (installs/multi-user/pipelines-ui/cluster-role.yaml)
# may get secrets in any namespace, so a profile's secretRef can be read; 2.17.0 drops that rule.
UI_OWN_NAMESPACE_ONLY_SINCE: Version = (2, 17)
# Publishing logs, from 2.5.0 to 2.17.0: the driver and the launcher take --publish_logs, default
# "true" (backend/src/v2/cmd/driver/main.go, cmd/launcher-v2/main.go), which the apiserver's
# compiler sets from its PUBLISH_LOGS variable when present (compiler/argocompiler/container.go;
# the stock ml-pipeline deployment sets "true"). With "true" the driver adds an output
# `executor-logs` of type system.Artifact to every task's executor input (driver/driver.go
# provisionOutputs) and the launcher tees the command's output into it (component/launcher_v2.go
# getLogWriter). TFX 1.16's executor runner cannot parse that type ("Could not import
# system.Artifact"); kubeflow/entrypoint.py hides the output from TFX and leaves it to the
# launcher, so the stock "true" works and each task's log lands in the object store.
PUBLISH_LOGS_SINCE: Version = (2, 5)
PUBLISH_LOGS_SETTING = (
  'keep the stock "true": the driver gives every task an executor-logs '
  'output (type system.Artifact), which our entrypoint hides from TFX; the '
  "launcher uploads each task's log there"
)
# manifests/kustomize/env/platform-agnostic/kustomization.yaml: third-party/minio up to 2.14.0,
# third-party/seaweedfs from 2.15.0. 2.15.0 keeps a `minio-service` (seaweedfs/minio-service.yaml)
# pointing at SeaweedFS; 2.16.0 drops it, and seaweedfs-service.yaml adds port 9000 (http-s3-compat)
# beside 8333 (http-s3); seaweedfs-networkpolicy.yaml (2.17.0) lets profile namespaces reach pod
# port 8333 only, which both service ports lead to. The apiserver's OBJECTSTORECONFIG_HOST says
# the same (2.15.0 minio-service.kubeflow, 2.16.0 seaweedfs.kubeflow).
SEAWEEDFS_SINCE: Version = (2, 15)
MINIO_SERVICE_UNTIL: Version = (2, 16)
# third-party/seaweedfs/base/seaweedfs/seaweedfs-networkpolicy.yaml, 2.15.0: ingress to port 8333
# only from namespaces labelled app.kubernetes.io/part-of=kubeflow-profile, and from istio-system;
# pods in `kubeflow` (a single-user install's runs) cannot reach it. 2.16.0 adds
# `from: [podSelector: {}], ports: [8333]`, the same namespace (commit b050f5c906).
SEAWEEDFS_SAME_NAMESPACE_SINCE: Version = (2, 16)
NETWORK_POLICY_PATCH = (
  'kubectl -n kubeflow patch networkpolicy seaweedfs --type json --patch '
  '\'[{"op": "add", "path": "/spec/ingress/-", "value": '
  '{"from": [{"podSelector": {}}], "ports": [{"port": 8333}]}}]\''
)
# manifests/kustomize/base/installs/multi-user/pipelines-profile-controller/sync.py sync,
# iam.put_user_policy, from 2.15.0 (absent at 2.14.0): a profile's object-store user may Get, Put
# and List only these prefixes of the bucket.
PROFILE_POLICY_SINCE: Version = (2, 15)
PROFILE_PREFIXES = ('private-artifacts/{ns}/', 'private/{ns}/', 'artifacts/', 'shared/')
# The policy's actions: "s3:Put*", "s3:Get*", "s3:List*" on arn:aws:s3:::mlpipeline/<prefix>*,
# 2.15.0 to 2.16.1; 2.17.0 adds "s3:DeleteObject" and a bucket policy granting s3:ListBucket on the
# bucket for those prefixes (ensure_bucket_list_policy, commit 7ec3c1da27). Read as AWS IAM reads
# it, the 2.15/2.16 policy allows neither deletes nor listing (ListBucket acts on the bucket, not on
# object ARNs). The store that enforces it reads it otherwise: SeaweedFS 4.00 (2.15.0 to 2.16.1,
# seaweedfs-deployment.yaml, `weed server -s3 -iam`) turns "s3:Put*" into its Write action, "Get*"
# into Read and "List*" into List on each prefix (seaweedfs weed/iamapi
# iamapi_management_handlers.go GetActions, MapToStatementAction, tag 4.00), and authorizes
# DeleteObject and CopyObject by Write on the key and a listing by its prefix (weed/s3api
# s3api_server.go, auth_credentials.go canDo): TensorFlow's copy-and-delete renames and the
# Pusher's deletes work. But it checks DeleteObjects, the batch delete that Beam's renames use
# (apache_beam/io/aws/s3io.py rename_files, delete_files), against Write on the bucket itself,
# which no profile has: a pipeline root in mlpipeline fails at the first Beam file write
# (StatisticsGen's statistics; the Evaluator's metrics later).
# SeaweedFS 4.34 (2.17.0) checks each key of a batch (s3api_object_handlers_delete.go,
# AuthorizeBatchDeleteKey). A store that read the policy as AWS does would need these grants:
AWS_READING_GRANTS = (
  's3:DeleteObject on arn:aws:s3:::mlpipeline/<prefix>* and s3:ListBucket on '
  'arn:aws:s3:::mlpipeline'
)
BATCH_DELETE_PER_KEY_SINCE: Version = (2, 17)
# backend/src/v2/component/launcher_v2.go downloadArtifacts (every tag read): before the command
# runs, every input artifact is copied whole (objectstore.DownloadBlob of its prefix) to local disk.
DISK_RULE = 'the sum of its input artifacts, each copied whole before the command runs'
# objectstore/object_store.go DownloadBlob lists the input's key as a prefix with no trailing "/"
# up to 2.16.1, so an input also pulls the outputs beside it whose names begin with its name (the
# Trainer's `model` pulls `model_run`); 2.17.0 keeps only keys under the prefix
# (isBlobKeyUnderPrefix).
EXACT_DOWNLOAD_SINCE: Version = (2, 17)
SIBLING_RULE = 'and, up to 2.16, the outputs beside each input whose names begin with its name'
# component/launcher_v2.go qualifyExecutorLogsForRetry: executor-logs gets "-<retry index>"
# ("-0" on the first attempt) from 2.16.1 (cherry-pick c5cf379302) and 2.17.0; 2.16.0 has none.
LOGS_RETRY_SUFFIX_SINCE = (2, 16, 1)
# backend/src/apiserver/main.go (2.14.0 to 2.17.0): CacheDisabled = !CacheEnabled, the apiserver's
# config (config.json "CacheEnabled": "true", or the environment), handed to the v2 compiler: with
# "false" no task of any run is cached. Before 2.14.0 the setting only labels Argo workflows.
CACHE_SWITCH_SINCE: Version = (2, 14)
# manifests/kustomize/base/installs/generic/pipeline-install-config.yaml ARTIFACTS_PROXY_ENABLED
# (default "false"); with "true" the profile controller runs ml-pipeline-ui-artifact in each profile
# namespace (sync.py), which reads artifacts with that namespace's own credentials.
ARTIFACTS_PROXY = 'ARTIFACTS_PROXY_ENABLED "true" in pipeline-install-config'
# The profile controller creates each profile's kfp-launcher ConfigMap (sync.py sync:
# defaultPipelineRoot) but never updates it: configmaps `updateStrategy: OnDelete`
# (pipelines-profile-controller composite-controller.yaml at 2.2.0, decorator-controller.yaml at
# 2.5.0 to 2.17.0). Keys added by hand stay until the ConfigMap is deleted.
PROFILE_CONFIGMAP_NOTE = (
  'the profile controller created this ConfigMap and does not update it '
  '(updateStrategy OnDelete), so the patch stays'
)
# The launcher's own S3 secret in every namespace (sync.py; third-party/minio and seaweedfs).
SECRET = ('mlpipeline-minio-artifact', 'accesskey', 'secretkey')
# backend/src/apiserver/main.go: GET /apis/v2beta1/healthz answers {"commit_sha", "tag_name",
# "multi_user"} (+ "pipeline_store" by 2.14.0; 2.17.0 buildHTTPRouter, newHealthzResponse);
# tag_name is the image's TAG_NAME (backend/Dockerfile, default "unknown").
HEALTHZ_PATH = '/apis/v2beta1/healthz'

# X.Y[.Z] with a semver pre-release or build suffix: nothing else, so that a server's
# '2.17.0<ESC>[2J' (or that text with its control characters taken out) is no release.
_VERSION = re.compile(
  r'v?(\d{1,4})\.(\d{1,4})(?:\.(\d{1,4}))?(?:[-+][0-9A-Za-z.+-]{1,64})?', re.ASCII
)


def parse_version(text: str, flag: str = '--kfp-version') -> Version:
  """'2.5', '2.5.0' or 'v2.15.0-rc.1' → (2, 5); only 2.x releases have these rules."""
  match = _VERSION.fullmatch(text.strip())
  if not match or int(match.group(1)) != 2:
    raise ValueError(
      f'{flag} {text!r}: expected a Kubeflow Pipelines 2.x release, e.g. 2.5 or 2.15.0'
    )
  minor = int(match.group(2))
  if NO_RELEASES[0] <= minor <= NO_RELEASES[1]:
    raise ValueError(
      f'{flag} {text!r}: there is no Kubeflow Pipelines 2.{minor} (after 2.5 came 2.14)'
    )
  return (2, minor)


def tag_tuple(tag: str) -> Tuple[int, int, int]:
  """'2.16.1' → (2, 16, 1): the rules that changed in a patch release."""
  major, minor, patch = (tag.split('.') + ['0'])[:3]
  return int(major), int(minor), int(patch)


def name(version: Version) -> str:
  return f'{version[0]}.{version[1]}'


def object_store(version: Version) -> Tuple[str, str]:
  """(what the install ships, the endpoint pods reach it at) for a stock install."""
  if version < SEAWEEDFS_SINCE:
    return 'MinIO', 'minio-service.kubeflow:9000'
  return 'SeaweedFS', 'seaweedfs.kubeflow:8333'


def allowed_prefixes(version: Version, namespace: Optional[str]) -> Optional[List[str]]:
  """The bucket prefixes a profile's pods may use, or None when any path in the bucket works."""
  if namespace is None or version < PROFILE_POLICY_SINCE:
    return None
  return [p.format(ns=namespace) for p in PROFILE_PREFIXES]


def own_bucket(namespace: str) -> str:
  """The bucket suggested for a profile's pipeline root where mlpipeline cannot hold it."""
  return f'mnist-{namespace}'[:63].rstrip('-')


def grant_own_bucket(namespace: str) -> str:
  """The admin's command that creates the profile's bucket and gives its SeaweedFS user (named as
  the namespace, sync.py create_user) Read, Write and List on all of it (weed/shell
  command_s3_configure.go -user -buckets -actions -apply; the identity action Write:BUCKET covers
  the bucket itself, auth_credentials.go canDo)."""
  bucket = own_bucket(namespace)
  return (
    f"printf 's3.bucket.create -name {bucket}\\ns3.configure -user {namespace} -buckets {bucket} "
    "-actions Read,Write,List -apply\\n' | kubectl -n kubeflow exec -i deploy/seaweedfs -- weed "
    'shell'
  )


def root_needs_own_bucket(version: Version, namespace: Optional[str]) -> bool:
  """2.15 and 2.16 multi-user: Beam's renames cannot run under mlpipeline (see above)."""
  return namespace is not None and PROFILE_POLICY_SINCE <= version < BATCH_DELETE_PER_KEY_SINCE


def check_location(flag: str, uri: str, version: Version, namespace: Optional[str]) -> str:
  """Refuses a location the release's in-cluster store would deny (AccessDenied at run time).

  Only s3://mlpipeline/… is the in-cluster store's bucket: other buckets may be AWS S3 or another
  store with their own credentials, which no release's policy limits."""
  prefixes = allowed_prefixes(version, namespace)
  scheme, _, rest = uri.partition('://')
  bucket, _, path = rest.partition('/')
  if prefixes and scheme == 's3' and bucket == BUCKET:
    if not any((path.rstrip('/') + '/').startswith(p) for p in prefixes):
      raise ValueError(
        f'{flag} {uri}: on Kubeflow Pipelines {name(version)} multi-user, profile {namespace} may '
        f'only use s3://{BUCKET}/{prefixes[0]}… (or {", ".join(prefixes[1:])}; '
        'pipelines-profile-controller sync.py put_user_policy)'
      )
  if flag == '--pipeline-root' and scheme == 's3' and bucket == BUCKET:
    if root_needs_own_bucket(version, namespace):
      assert namespace is not None
      raise ValueError(
        f'{flag} {uri}: on Kubeflow Pipelines {name(version)} multi-user, SeaweedFS 4.00 refuses '
        f"profile {namespace} the batch deletes that Beam's file renames need (it checks them "
        'against Write on the whole bucket, which the profile policy never grants): use a root in '
        f'a bucket of its own, s3://{own_bucket(namespace)}/mnist, after an admin runs: '
        f'{grant_own_bucket(namespace)}; or Kubeflow Pipelines 2.17'
      )
  return uri


def providers_yaml(version: Version, endpoint: str) -> Optional[str]:
  """The kfp-launcher ConfigMap's `providers` value for an S3-compatible store, with every level
  s3.go reads (S3ProviderConfig.Default → S3ProviderDefault → S3Credentials → S3SecretRef)."""
  if version < PROVIDERS_SINCE:
    return None
  secret_name, access_key, secret_key = SECRET
  lines = [
    's3:',
    '  default:',
    f'    endpoint: {endpoint}',
    '    region: us-east-1',
    '    disableSSL: true',
  ]
  if version >= FORCE_PATH_STYLE_SINCE:
    lines.append('    forcePathStyle: true')
  lines += [
    '    credentials:',
    '      fromEnv: false',
    '      secretRef:',
    f'        secretName: {secret_name}',
    f'        accessKeyKey: {access_key}',
    f'        secretKeyKey: {secret_key}',
  ]
  return '\n'.join(lines) + '\n'


def root_scheme(version: Version) -> str:
  if version < PROVIDERS_SINCE:
    return 'gs:// or AWS s3:// (in-cluster MinIO: no)'
  return 'gs:// or s3:// + providers'


def html_report(version: Version, multi_user: bool = False) -> str:
  """Where the RunResults `report` (an s3:// system.HTML artifact) shows in the KFP UI."""
  fallback = (
    "the UI reads it with its own s3 settings (ml-pipeline-ui's environment), so it "
    'shows only if those reach the bucket, else "Error in retrieving HTML visualization '
    'information"'
  )
  if version < max(ARTIFACT_SESSION_INFO_SINCE, UI_SESSION_INFO_SINCE):
    return f'no session info: {fallback}'
  if version < UI_OWN_NAMESPACE_ONLY_SINCE:
    return "yes: RunResults → report, read with the artifact's store_session_info"
  if multi_user:
    return (
      f'no session info in a profile namespace: {fallback}; or set {ARTIFACTS_PROXY} (the UI '
      "then reads through ml-pipeline-ui-artifact in the profile namespace, with that namespace's "
      'keys)'
    )
  return "yes in the UI's own namespace (single-user), read with the artifact's store_session_info"


def profile_deletes(version: Version) -> str:
  """Whether a profile's pods may delete (the Pusher's clean-up, TensorFlow's and Beam's renames)
  in the in-cluster bucket, and why (see AWS_READING_GRANTS above)."""
  if version < PROFILE_POLICY_SINCE:
    return 'allowed: no profile policy (every namespace has the same keys)'
  if version < BATCH_DELETE_PER_KEY_SINCE:
    return (
      "one key at a time (TensorFlow's renames, the Pusher): allowed, SeaweedFS 4.00 reads the "
      "policy's s3:Put* as its Write action; a batch (Beam's renames): refused, it needs Write "
      'on the whole bucket'
    )
  return 'allowed: the policy grants s3:DeleteObject, and SeaweedFS 4.34 checks each key of a batch'


def task_log(tag: str) -> str:
  """Where a task's own log goes (the launcher's executor-logs output) at this tag."""
  if parse_version(tag) < PUBLISH_LOGS_SINCE:
    return 'none'
  if tag_tuple(tag) < LOGS_RETRY_SUFFIX_SINCE:
    return '`executor-logs`'
  return '`executor-logs-0` (the retry index)'
