"""Our code on a multi-user install's object store, under each release's profile policy as its store
enforces it (profile_store.py): the Trainer's SavedModel write, the Pusher's push and a Beam file
write run in a process with only the profile's credentials, and meet every refusal from the store
itself. Then compile says, per release, whether a pipeline root there can work."""

import os
import subprocess
import sys
import uuid

import pytest

from kubeflow import arguments, releases
from tests.conftest import REPO
from tests.kubeflow import profile_store as policies
from tests.kubeflow.profile_store import BUCKET, TAGS

pytestmark = pytest.mark.slow
NS = 'team-a'


def _pod(env, *args):
  return subprocess.run(
    [sys.executable, '-m', 'tests.kubeflow.profile_pod', *args],
    cwd=REPO,
    env=dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL='3', **env),
    capture_output=True,
    text=True,
    timeout=600,
  )


def _keys(store, prefix):
  client = store.client('s3', store.admin)
  pages = client.get_paginator('list_objects_v2').paginate(Bucket=BUCKET, Prefix=prefix)
  return sorted(item['Key'] for page in pages for item in page.get('Contents', []))


@pytest.mark.parametrize('tag', TAGS)
def test_the_trainers_savedmodel_and_the_push_work_under_each_release(tag, profile_store):
  """TensorFlow's SavedModel write renames (a copy and a delete) and lists under the prefix; the
  Pusher lists the serving dir, copies, and deletes its staging copy: on 2.15 and 2.16 the
  profile's Write (from s3:Put*) covers the deletes, on 2.17 s3:DeleteObject does."""
  env = profile_store.profile(NS, policies.as_enforced(tag, NS))
  root = f's3://{BUCKET}/private-artifacts/{NS}/{tag}-{uuid.uuid4().hex[:6]}'
  model = f'{root}/Trainer/model'
  proc = _pod(env, 'savedmodel', model)
  assert proc.returncode == 0, proc.stderr[-3000:]
  prefix = model[len(f's3://{BUCKET}/') :]
  assert f'{prefix}/Format-Serving/saved_model.pb' in _keys(profile_store, prefix)
  proc = _pod(env, 'push', model, f'{root}/serving', f'{root}/Pusher/pushed_model')
  assert proc.returncode == 0, proc.stderr[-3000:]
  version = proc.stdout.split()[-1]
  serving = _keys(profile_store, f'{root[len(f"s3://{BUCKET}/") :]}/serving/')
  assert (
    f'private-artifacts/{NS}/{root.rsplit("/", 1)[1]}/serving/{version}/saved_model.pb' in serving
  )
  assert not [key for key in serving if '/.pushing-' in key], 'the staging copy was deleted'


@pytest.mark.parametrize('tag', TAGS)
def test_beams_renames_need_the_batch_delete_that_2_15_and_2_16_refuse(tag, profile_store):
  """Beam writes temporary files and renames them into place: a copy, then a batch delete
  (DeleteObjects, apache_beam/io/aws/s3io.py rename_files, delete_files). SeaweedFS 4.00 checks a
  batch delete against Write on the bucket, which no profile has; 4.34 checks each key. Our code
  meets the store's own refusal, and compile refuses such a root first."""
  env = profile_store.profile(NS, policies.as_enforced(tag, NS))
  root = f's3://{BUCKET}/private-artifacts/{NS}/beam-{tag}-{uuid.uuid4().hex[:6]}'
  proc = _pod(env, 'beam-write', f'{root}/examples/data')
  if tag == '2.17.0':
    assert proc.returncode == 0, proc.stderr[-3000:]
    keys = _keys(profile_store, root[len(f's3://{BUCKET}/') :])
    assert keys and not [key for key in keys if 'beam-temp' in key]
    arguments.check_release_locations(tag, NS, {'--pipeline-root': root})
    return
  assert proc.returncode != 0
  assert 'AccessDenied' in proc.stderr and 'FinalizeWrite' in proc.stderr
  with pytest.raises(ValueError) as e:
    arguments.check_release_locations(tag, NS, {'--pipeline-root': root})
  assert 'batch deletes' in str(e.value) and releases.grant_own_bucket(NS) in str(e.value)
  # What the refusal says to do: a bucket of the profile's own, then the same write works.
  bucket = releases.own_bucket(NS)
  admin = profile_store.client('s3', profile_store.admin)
  if bucket not in [b['Name'] for b in admin.list_buckets()['Buckets']]:
    admin.create_bucket(Bucket=bucket)
  env = profile_store.profile(NS, policies.with_own_bucket(policies.as_enforced(tag, NS), bucket))
  own = f's3://{bucket}/mnist-{tag}-{uuid.uuid4().hex[:6]}'
  proc = _pod(env, 'beam-write', f'{own}/examples/data')
  assert proc.returncode == 0, proc.stderr[-3000:]
  arguments.check_release_locations(tag, NS, {'--pipeline-root': own})


def test_the_2_16_policy_read_as_aws_iam_reads_it_would_deny_listing(profile_store):
  """The document alone, on a store that evaluates it as AWS does: no statement on the bucket, so
  no listing (and no delete): what check prints as the grant such a store needs."""
  env = profile_store.profile(NS, policies.aws_reading('2.16.1', NS))
  root = f's3://{BUCKET}/private-artifacts/{NS}/aws-{uuid.uuid4().hex[:6]}'
  proc = _pod(env, 'savedmodel', f'{root}/Trainer/model')
  assert proc.returncode != 0 and 'AccessDenied' in proc.stderr + proc.stdout
