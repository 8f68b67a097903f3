"""benchmarks/scale.py: the scaled set's builder (deterministic, valid IDX the pipeline's own
reader accepts) and the goal judge, on tiny inputs."""

import gzip
import hashlib
import importlib.util
import os

import numpy as np
import pytest

from components.lib import datasets, idx
from tests.conftest import REPO

_spec = importlib.util.spec_from_file_location(
  'scale', os.path.join(REPO, 'benchmarks', 'scale.py')
)
assert _spec is not None and _spec.loader is not None
scale = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scale)


def tiny_split(n: int, seed: int) -> idx.MnistSplit:
  rng = np.random.default_rng(seed)
  return idx.MnistSplit(
    rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n).astype(np.uint8), {}
  )


def build(tmp_path, name: str, factor: int) -> str:
  sources = {'train': tiny_split(7, 1), 't10k': tiny_split(3, 2)}
  return scale.build_scaled(
    'unused', factor, str(tmp_path / name), load_split=lambda _, prefix: sources[prefix]
  )


def digests(folder: str):
  return {
    name: hashlib.sha256(gzip.open(os.path.join(folder, name)).read()).hexdigest()
    for name in sorted(os.listdir(folder))
  }


def test_the_scaled_set_is_valid_idx_and_the_same_every_time(tmp_path):
  first, again = build(tmp_path, 'a', 3), build(tmp_path, 'b', 3)
  assert digests(first) == digests(again)  # the decompressed bytes, not the gzip headers
  train = idx.load_split(first, 'train', dataset=datasets.IDX)
  test = idx.load_split(first, 't10k', dataset=datasets.IDX)
  source = tiny_split(7, 1)
  assert train.images.shape == (21, 28, 28) and test.images.shape == (9, 28, 28)
  np.testing.assert_array_equal(train.images[:7], source.images)  # copy 0 is the set itself
  np.testing.assert_array_equal(train.labels, np.tile(source.labels, 3))
  assert not np.array_equal(train.images[7:14], source.images)  # copies 1, 2 are moved
  assert not np.array_equal(train.images[7:14], train.images[14:21])


def test_a_finished_set_is_reused_and_not_rebuilt(tmp_path):
  folder = build(tmp_path, 'a', 2)
  stamp = os.stat(os.path.join(folder, 'train-images-idx3-ubyte.gz')).st_mtime_ns
  assert scale.build_scaled('unused', 2, folder, load_split=None) == folder  # no source needed
  assert os.stat(os.path.join(folder, 'train-images-idx3-ubyte.gz')).st_mtime_ns == stamp
  assert not [n for n in os.listdir(tmp_path) if n.startswith('.building-')]


def test_transform_shifts_and_rotates_as_asked():
  image = np.zeros((1, 28, 28), np.uint8)
  image[0, 10, 12] = 200
  moved = scale.transform(image, np.array([[2, -3]]), np.zeros(1))
  assert moved[0, 12, 9] == 200 and moved.sum() == 200
  half_turn = scale.transform(image, np.zeros((1, 2), np.int64), np.array([180.0]))
  assert half_turn[0, 27 - 10, 27 - 12] == 200 and half_turn.sum() == 200
  np.testing.assert_array_equal(
    scale.transform(image, np.zeros((1, 2), np.int64), np.zeros(1)), image
  )


def test_copy_parameters_are_fixed_and_bounded():
  shifts, angles = scale.copy_parameters(4, 1000)
  again_shifts, again_angles = scale.copy_parameters(4, 1000)
  np.testing.assert_array_equal(shifts, again_shifts)
  np.testing.assert_array_equal(angles, again_angles)
  assert np.abs(shifts).max() <= scale.MAX_SHIFT and np.abs(angles).max() <= scale.MAX_ROTATION
  assert not np.array_equal(angles, scale.copy_parameters(5, 1000)[1])


def run(stages, peak):
  return {'stages': stages, 'peak_mib': peak, 'stage_peak_mib': {}}


def test_judge_passes_linear_time_and_flat_memory():
  verdicts = scale.judge(
    {
      1: run({'Trainer': 10.0, 'Evaluator': 4.0}, 1000),
      10: run({'Trainer': 110.0, 'Evaluator': 30.0}, 1500),
    }
  )
  assert all(ok for _, ok in verdicts), verdicts


def test_judge_names_the_stage_and_the_number_that_miss():
  verdicts = dict(
    scale.judge(
      {
        1: run({'Trainer': 10.0, 'report': 1.0}, 1000),
        3: run({'Trainer': 20.0, 'report': 1.0}, 1200),
        10: run({'Trainer': 111.0}, 1501),
      }
    )
  )
  assert verdicts['Trainer: 111.0 s at 10× = 11.1× its 10.0 s at 1× (goal ≤ 11×)'] is False
  assert verdicts['report: missing from the 10× run'] is False
  assert verdicts['peak memory: 1501 MiB at 10× = 1.50× the 1000 MiB at 1× (goal ≤ 1.5×)'] is False


def test_judge_needs_the_1x_run():
  with pytest.raises(ValueError, match='1×'):
    scale.judge({3: run({}, 1), 10: run({}, 1)})


def test_stage_windows_follow_the_runners_lines():
  lines = [
    (1.0, 'MnistExampleGen: validating…'),
    (3.0, 'MnistExampleGen     2.0 s (train 7, eval 3)'),
    (4.0, 'Trainer             1.0 s'),
    (4.5, 'Pusher   0.5 s (cached)'),
    (6.0, 'Report:          /x/report.html'),
  ]
  assert scale.stage_windows(lines, 0.5) == [
    ('MnistExampleGen', 0.5, 3.0),
    ('Trainer', 3.0, 4.0),
    ('Pusher', 4.0, 4.5),
    ('report', 4.5, 6.0),
  ]


def test_tree_rss_counts_this_process():
  rss = scale.tree_rss_bytes(os.getpid())
  with open(f'/proc/{os.getpid()}/statm') as f:
    own = int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
  assert rss >= own > 0
