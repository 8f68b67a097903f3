"""The in-cluster object store of a multi-user Kubeflow Pipelines, per release, played on moto's S3
server with IAM authentication on: the profile controller gives each profile namespace its own
user and policy (kubeflow/pipelines manifests/kustomize/base/installs/multi-user/
pipelines-profile-controller/sync.py, sync: iam.create_user, create_access_key, put_user_policy;
from 2.17.0 also ensure_bucket_list_policy), and the store decides what each request may do.

The policy as sync.py writes it (AS_WRITTEN): "s3:Put*", "s3:Get*", "s3:List*" on
arn:aws:s3:::mlpipeline/{artifacts, private-artifacts/<ns>, private/<ns>, shared}/* at 2.15.0,
2.16.0 and 2.16.1; 2.17.0 adds "s3:DeleteObject" (commit 7ec3c1da27) and a bucket policy of
s3:ListBucket statements on arn:aws:s3:::mlpipeline: the four prefixes (condition s3:prefix), a
HEAD (the HeadBucket of KServe's storage initializer), top-level browsing, and a Deny of other
namespaces' private prefixes.

How the store reads it (AS_ENFORCED, what a pod meets):
- 2.15.0 to 2.16.1 ship SeaweedFS 4.00 (seaweedfs-deployment.yaml, `weed server -s3 -iam`). Its
  IAM API turns each statement into actions of its own (seaweedfs weed/iamapi/
  iamapi_management_handlers.go GetActions, MapToStatementAction, tag 4.00): "Put*" → Write,
  "Get*" → Read, "List*" → List, each as `<action>:mlpipeline/<prefix>*`. The S3 server checks a
  request's action against them (weed/s3api/auth_credentials.go authRequest, canDo): PutObject,
  CopyObject, the multipart calls and DeleteObject need Write on the key; GetObject and HeadObject
  Read; ListObjects List on its `prefix`; HeadBucket and GetBucketLocation Read, and
  DeleteObjects (the batch delete) Write, on the bucket itself (weed/s3api/s3api_server.go), which
  no profile has.
- 2.17.0 ships SeaweedFS 4.34, which authorizes each key of a batch delete on its own
  (s3api_object_handlers_delete.go DeleteMultipleObjectsHandler, AuthorizeBatchDeleteKey) and
  evaluates the bucket policy.

moto evaluates IAM policies as AWS does (moto/s3/responses.py, moto 5.2.5): object calls against
arn:aws:s3:::BUCKET/KEY, bucket calls (ListBucket, HeadBucket, GetBucketLocation) against
arn:aws:s3:::BUCKET, and a batch delete first against s3:DeleteObject on the bucket ARN, every key
refused when that fails. So each reading is written below as an AWS policy that moto enforces the
same way. Two things moto cannot play: an s3:prefix condition (it passes no such key), so a
listing allowed on the bucket is allowed at any prefix (SeaweedFS and 2.17's bucket policy allow
only the profile's prefixes); and 2.17's per-key check of a batch delete, played by allowing the
batch on the bucket. Neither changes what a pod may do under its own prefix.

AWS_READING is the 2.15/2.16 document read as AWS IAM reads it (no bucket-level statement at all):
what the policy would allow on a store that evaluates it as written."""

import json
import uuid
from typing import Dict, List

import boto3

BUCKET = 'mlpipeline'  # sync.py S3_BUCKET_NAME
TAGS = ('2.15.0', '2.16.0', '2.16.1', '2.17.0')


def _objects(namespace: str) -> List[str]:
  return [
    f'arn:aws:s3:::{BUCKET}/{prefix}*'
    for prefix in (
      'artifacts/',
      f'private-artifacts/{namespace}/',
      f'private/{namespace}/',
      'shared/',
    )
  ]


def as_written(tag: str, namespace: str) -> Dict:
  """sync.py's user policy at `tag`, as it is put."""
  actions = ['s3:Put*', 's3:Get*', 's3:List*']
  if tag == '2.17.0':
    actions.append('s3:DeleteObject')
  return {
    'Version': '2012-10-17',
    'Statement': [{'Effect': 'Allow', 'Action': actions, 'Resource': _objects(namespace)}],
  }


def as_enforced(tag: str, namespace: str) -> Dict:
  """What the release's store lets the profile do, as an AWS policy moto enforces (see above)."""
  bucket = f'arn:aws:s3:::{BUCKET}'
  if tag == '2.17.0':
    statements = as_written(tag, namespace)['Statement'] + [
      {
        'Effect': 'Allow',
        'Action': ['s3:ListBucket', 's3:HeadBucket', 's3:DeleteObject'],
        'Resource': bucket,
      }
    ]
  else:  # SeaweedFS 4.00: Write, Read and List on the prefixes; nothing on the bucket itself
    statements = [
      {
        'Effect': 'Allow',
        'Action': [
          's3:PutObject',  # PutObject, CopyObject, multipart create, part and complete
          's3:AbortMultipartUpload',
          's3:DeleteObject',
          's3:GetObject',  # GetObject and HeadObject
          's3:ListMultipartUploadParts',
        ],
        'Resource': _objects(namespace),
      },
      {'Effect': 'Allow', 'Action': 's3:ListBucket', 'Resource': bucket},  # List:<prefix>
    ]
  return {'Version': '2012-10-17', 'Statement': statements}


def aws_reading(tag: str, namespace: str) -> Dict:
  return as_written(tag, namespace)


def with_own_bucket(policy: Dict, bucket: str) -> Dict:
  """`policy` plus what `s3.configure -user NS -buckets BUCKET -actions Read,Write,List` gives in
  SeaweedFS: Read:BUCKET, Write:BUCKET and List:BUCKET, the bucket itself included (canDo's
  `limitedByBucket`), so a batch delete there is allowed too (kubeflow/releases.py
  grant_own_bucket)."""
  statement = {
    'Effect': 'Allow',
    'Action': [
      's3:PutObject',
      's3:AbortMultipartUpload',
      's3:DeleteObject',
      's3:GetObject',
      's3:ListMultipartUploadParts',
      's3:ListBucket',
      's3:HeadBucket',
      's3:GetBucketLocation',
    ],
    'Resource': [f'arn:aws:s3:::{bucket}', f'arn:aws:s3:::{bucket}/*'],
  }
  return dict(policy, Statement=list(policy['Statement']) + [statement])


class ProfileStore:
  """moto's server with IAM on, bucket `mlpipeline`, and an admin for the set-up; `profile()`
  plays the profile controller for one namespace under one release's policy."""

  def __init__(self, endpoint: str, admin: Dict[str, str]):
    self.endpoint = endpoint
    self.admin = admin

  def client(self, service: str, env: Dict[str, str]):
    return boto3.client(
      service,
      endpoint_url=self.endpoint,
      region_name='us-east-1',
      aws_access_key_id=env['AWS_ACCESS_KEY_ID'],
      aws_secret_access_key=env['AWS_SECRET_ACCESS_KEY'],
    )

  def profile(self, namespace: str, policy: Dict) -> Dict[str, str]:
    """A user with `policy` (sync.py: create_user, create_access_key, put_user_policy); returns
    the pod environment its mlpipeline-minio-artifact secret gives."""
    iam = self.client('iam', self.admin)
    user = f'{namespace}-{uuid.uuid4().hex[:8]}'  # one per call: policies never mix
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)['AccessKey']
    iam.put_user_policy(
      UserName=user, PolicyName=f'KubeflowProject{namespace}', PolicyDocument=json.dumps(policy)
    )
    return dict(
      self.admin, AWS_ACCESS_KEY_ID=key['AccessKeyId'], AWS_SECRET_ACCESS_KEY=key['SecretAccessKey']
    )
