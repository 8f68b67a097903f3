"""components/lib/sources.py: what the ExampleGen reads of a folder of pictures or a CSV — a check
pass that counts, fills the manifest and fixes the identity of what will be written, then a read
pass that must read the same (data changed in between is refused); and memory that does not grow
with the pictures (peak memory of a child process: its VmHWM)."""

import csv
import io
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from components.lib import datasets, sources
from components.lib.idx import MnistDataError
from tests.conftest import REPO


def _folder(root, per_class=10):
  for name in ('bird', 'ant'):
    for i in range(per_class):
      path = os.path.join(root, name, f'{i:03d}.png')
      os.makedirs(os.path.dirname(path), exist_ok=True)
      Image.new('L', (9, 9), i * 20).save(path)
  return str(root)


def _manifest_rows(manifest):
  return list(csv.reader(io.StringIO(''.join(manifest.text()))))


def test_the_check_pass_fills_the_manifest_and_the_read_pass_reads_the_same(tmp_path):
  source = sources.open_source(datasets.IMAGES, _folder(tmp_path / 'p'))
  manifest, seen = sources.Manifest(), []
  checks = {
    split: source.check(split, 4, lambda images, labels: seen.append(len(labels)), manifest)
    for split in source.splits
  }
  rows = _manifest_rows(manifest)
  assert rows[0] == list(sources.MANIFEST_HEADER) and len(rows) == 21 and sum(seen) == 20
  assert {r[1] for r in rows[1:]} == {'ant', 'bird'} and {r[2] for r in rows[1:]} == {
    'train',
    'eval',
  }
  assert sum(c.count for c in checks.values()) == 20
  written = [
    files
    for split in source.splits
    for _, _, files in source.read(split, 4, None, checks[split].identity)
  ]
  assert sorted(f for part in written for f in part) == sorted(r[0] for r in rows[1:])


def test_a_limited_split_is_checked_whole_and_identified_by_what_is_written(tmp_path):
  source = sources.open_source(datasets.IMAGES, _folder(tmp_path / 'p'))
  check = source.check('train', 3, lambda *_: None, sources.Manifest(), limit=5)
  parts = list(source.read('train', 3, 5, check.identity))
  assert sum(len(labels) for _, labels, _ in parts) == 5


def test_a_picture_changed_between_the_passes_is_refused(tmp_path):
  folder = _folder(tmp_path / 'p')
  source = sources.open_source(datasets.IMAGES, folder)
  check = source.check('train', 4, lambda *_: None, sources.Manifest())
  first = source.splits['train'][0].path
  Image.new('L', (9, 9), 255).save(os.path.join(folder, *first.split('/')))
  with pytest.raises(
    MnistDataError, match=f'^{folder}: changed while it was being read; run again'
  ):
    list(source.read('train', 4, None, check.identity))


def test_a_csv_source_names_its_classes_after_its_training_split(tmp_path):
  header = ','.join(['label'] + [f'pixel{i}' for i in range(784)])
  for name, labels in (('train.csv', [0, 1, 2, 1]), ('test.csv', [2, 0])):
    rows = [','.join([str(label)] + ['9'] * 784) for label in labels]
    (tmp_path / name).write_text('\n'.join([header, *rows]) + '\n')
  source = sources.open_source(datasets.CSV, str(tmp_path))
  manifest = sources.Manifest()
  with pytest.raises(ValueError, match='check the training split first'):
    source.check('eval', 10, lambda *_: None, manifest)
  train = source.check('train', 10, lambda *_: None, manifest)
  assert source.class_names == ('0', '1', '2') and train.count == 4
  assert source.check('eval', 10, lambda *_: None, manifest).count == 2
  assert [r[0] for r in _manifest_rows(manifest)[1:]] == ['train.csv', 'test.csv']
  assert (
    manifest.first['train'][4]
    == sources.hashlib.sha256((tmp_path / 'train.csv').read_bytes()).hexdigest()
  )
  (tmp_path / 'train.csv').write_text(
    '\n'.join([header] + [','.join(['1'] + ['0'] * 784)] * 4) + '\n'
  )
  with pytest.raises(MnistDataError, match='train.csv: changed while it was being read'):
    list(source.read('train', 10, None, train.identity))


# The pictures' memory: the listing and one chunk, not the folder. 20,000 more pictures would be
# 15.7 MB more as 28x28 bytes alone; the child's peak may grow by half of that at most.
CHILD = r"""
import sys
def peak():
  with open('/proc/self/status') as status:
    return next(int(line.split()[1]) * 1024 for line in status if line.startswith('VmHWM:'))
from components.lib import datasets, sources
source = sources.open_source(datasets.IMAGES, sys.argv[1])
manifest = sources.Manifest()
checks = {s: source.check(s, 500, lambda *_: None, manifest) for s in source.splits}
for s in source.splits:
  for _ in source.read(s, 500, None, checks[s].identity):
    pass
print(sum(c.count for c in checks.values()))
print(peak())
"""


def _peak(folder):
  done = subprocess.run(
    [sys.executable, '-c', CHILD, folder], cwd=REPO, capture_output=True, text=True, timeout=600
  )
  assert done.returncode == 0, done.stderr
  count, peak = done.stdout.split()
  return int(count), int(peak)


@pytest.mark.slow
def test_memory_does_not_grow_with_the_pictures(tmp_path):
  noise = np.random.default_rng(0).integers(0, 256, (28, 28), np.uint8)
  for n, folder in ((2000, tmp_path / 'small'), (22000, tmp_path / 'large')):
    for name in ('a', 'b'):
      os.makedirs(folder / name)
    for i in range(n):
      Image.fromarray(np.roll(noise, i)).save(folder / ('a' if i % 2 else 'b') / f'{i:05d}.png')
  small_count, small = _peak(str(tmp_path / 'small'))
  large_count, large = _peak(str(tmp_path / 'large'))
  assert (small_count, large_count) == (2000, 22000)
  assert large - small < 20000 * 784 // 2, f'{(large - small) / 2**20:.1f} MiB more'
