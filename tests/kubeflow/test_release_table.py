"""The version table of docs/reference/kubeflow.md is release_table.py's, every row names the
sources whose rules change at its tag, and the page says what was verified against a cluster."""

import os
import re

import yaml

from kubeflow import release_table, releases
from tests.conftest import REPO
from tests.kubeflow.test_check import _check_s3_go_shape

GUIDE = os.path.join(REPO, 'docs', 'reference', 'kubeflow.md')


def _guide():
  with open(GUIDE) as f:
    return f.read()


def test_guide_table_is_the_one_releases_py_holds():
  assert release_table.table_markdown() in _guide()


def test_every_row_is_a_tag_read_and_cites_its_sources():
  rows = release_table.table_rows()
  assert [row[0] for row in rows] == list(releases.TAGS_READ)
  assert set(release_table.CHANGES) == set(releases.TAGS_READ)
  for row in rows:
    assert len(row) == len(release_table.TABLE_HEADER)
    changes = row[-1]
    assert changes.startswith('none of these rules') or re.search(
      r'`[^`]+\.(go|py|yaml|tsx?)`|`manifests/', changes
    ), row


def test_no_release_that_does_not_exist_is_named():
  """The tags go from 2.5.0 to 2.14.0: no page speaks of releases 2.6 to 2.13."""
  tags = set(releases.TAGS_READ)
  assert not [t for t in tags if 6 <= releases.tag_tuple(t)[1] <= 13]
  pages = [GUIDE, os.path.join(REPO, 'docs', 'how-to', 'kubeflow.md')]
  for page in pages:
    with open(page) as f:
      text = f.read()
    text = text.replace('There are no releases 2.6 to 2.13', '')  # the one sentence that may
    assert not re.search(r'\b2\.(?:[6-9]|1[0-3])\b(?!\.\d)', text), page


def test_the_rules_that_changed_in_a_patch_release():
  assert releases.task_log('2.16.0') == '`executor-logs`'
  assert releases.task_log('2.16.1').startswith('`executor-logs-0`')
  assert releases.task_log('2.4.1') == 'none'
  [row_2_16_1] = [row for row in release_table.table_rows() if row[0] == '2.16.1']
  assert 'qualifyExecutorLogsForRetry' in row_2_16_1[-1]


def test_guide_providers_block_has_the_fields_s3_go_reads():
  blocks = [yaml.safe_load(b) for b in re.findall(r'```yaml\n(.*?)```', _guide(), re.S)]
  patches = [b for b in blocks if 'providers' in ((b or {}).get('data') or {})]
  assert patches, 'no kfp-launcher providers block in the guide'
  for patch in patches:
    _check_s3_go_shape(yaml.safe_load(patch['data']['providers']))


def test_guide_says_what_is_verified():
  text = _guide()
  assert 'against a real cluster: nothing' in text
  for tag in releases.TAGS_READ:
    assert tag in text
