"""benchmarks/ratios.py: its pure parts, and (slow) the quick mode end to end on tiny sizes."""

import importlib.util
import json
import math
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

_spec = importlib.util.spec_from_file_location(
  'ratios', os.path.join(REPO, 'benchmarks', 'ratios.py')
)
assert _spec is not None and _spec.loader is not None
ratios = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ratios)

# The seed CNN by hand (trainer_module/model.py), multiply-accumulates per example:
#   conv1: 28×28 out × 32 filters × 5×5×1 in   =    627,200
#   conv2: 14×14 out × 64 filters × 5×5×32 in  = 10,035,200
#   dense1: 7×7×64 = 3136 in × 1024            =  3,211,264
#   logits: 1024 × 10                          =     10,240
SEED_MACS = 627_200 + 10_035_200 + 3_211_264 + 10_240
SEED_LAYERS = [
  dict(kind='conv', out_h=28, out_w=28, filters=32, kernel_h=5, kernel_w=5, in_channels=1),
  dict(kind='conv', out_h=14, out_w=14, filters=64, kernel_h=5, kernel_w=5, in_channels=32),
  dict(kind='dense', inputs=3136, units=1024),
  dict(kind='dense', inputs=1024, units=10),
]

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags\t\t: fpu vme sse2 avx2 fma avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags\t\t: fpu vme sse2 avx2 fma avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8
"""


def test_median_odd_even_and_empty():
  assert ratios.median([3, 1, 2]) == 2
  assert ratios.median([4, 1, 3, 2]) == 2.5
  assert ratios.median([7.5]) == 7.5
  with pytest.raises(ValueError):
    ratios.median([])


def test_percentile_matches_linear_interpolation():
  values = list(range(1, 101))  # 1..100
  assert ratios.percentile(values, 50) == pytest.approx(50.5)
  assert ratios.percentile(values, 99) == pytest.approx(99.01)
  assert ratios.percentile(values, 0) == 1 and ratios.percentile(values, 100) == 100
  assert ratios.percentile([5.0], 99) == 5.0
  assert ratios.percentile([1, 3], 25) == pytest.approx(1.5)
  with pytest.raises(ValueError):
    ratios.percentile([1], 101)


def test_ratio_and_nothing_measured():
  assert ratios.ratio(63.0, 47.0) == pytest.approx(1.3404, abs=1e-4)
  assert math.isnan(ratios.ratio(1.0, 0.0))
  assert math.isnan(ratios.ratio(1.0, float('nan')))


def test_flops_of_the_seed_cnn_by_hand():
  assert ratios.forward_macs(SEED_LAYERS) == SEED_MACS == 13_883_904
  # 2 FLOPs per MAC, ×3 for forward + backward: ≈ 83 MFLOP per training example.
  assert ratios.training_flops_per_example(SEED_LAYERS) == 6 * SEED_MACS == 83_303_424


def test_flops_read_from_the_real_model():
  from trainer_module.model import build_model

  assert ratios.describe_model(build_model()) == SEED_LAYERS


def test_parse_cpuinfo():
  info = ratios.parse_cpuinfo(CPUINFO)
  assert info['cpu_model'] == 'Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz'
  assert info['logical_cpus'] == 2
  assert info['flags'] == list(ratios.CPU_FLAGS)
  assert info['flags_absent'] == []
  plain = ratios.parse_cpuinfo('processor : 0\nmodel name : Old CPU\nflags : sse2 avx2\n')
  assert plain['flags'] == ['avx2'] and 'avx512_bf16' in plain['flags_absent']
  assert ratios.parse_cpuinfo('')['cpu_model'] == 'unknown'


def test_make_row_uses_medians_and_pairs():
  row = ratios.make_row(
    'b',
    'b. pipeline ÷ bare script',
    's wall',
    'pipeline',
    'bare',
    [63.0, 70.0, 61.0],
    [47.0, 45.0, 50.0],
    goal='≤ 1.15',
  )
  assert row['a_median'] == 63.0 and row['b_median'] == 47.0
  assert row['ratio'] == pytest.approx(63 / 47)
  assert row['pair_ratios'] == pytest.approx([63 / 47, 70 / 45, 61 / 50])


def test_format_table():
  rows = [
    ratios.make_row(
      'b',
      'b. pipeline ÷ bare script',
      's wall',
      'pipeline',
      'bare',
      [63.0, 61.0],
      [47.0, 45.0],
      goal='≤ 1.15',
      raw={'accuracy': [0.99, 0.98]},
    ),
    ratios.make_row(
      'a',
      'a. Trainer ÷ bare keras.fit',
      'examples/s, steady',
      'Trainer',
      'keras.fit',
      [3460.0],
      [3541.0],
    ),
  ]
  lines = ratios.format_table(rows).splitlines()
  assert lines[0].split()[:2] == ['ratio', 'unit']
  assert lines[2].startswith('b. pipeline ÷ bare script')
  assert '62.0 pipeline' in lines[2] and '46.0 bare' in lines[2] and '1.35×' in lines[2]
  assert lines[2].rstrip().endswith('≤ 1.15')
  assert '3,460 Trainer' in lines[3] and '3,541 keras.fit' in lines[3] and '0.98×' in lines[3]
  # columns line up: each row's ratio starts where the header's does
  assert lines[2].index('1.35×') == lines[3].index('0.98×') == lines[0].index('A ÷ B')
  assert 'raw numbers (in run order):' in lines
  assert '  b: A 63.0, 61.0; B 47.0, 45.0' in lines
  assert '     accuracy: 0.99, 0.98' in lines


def test_each_goal_is_judged_and_a_miss_says_why():
  raw = {
    'pipeline': [
      {
        'seconds': 60.0,
        'components': {
          'MnistExampleGen': 2.7,
          'StatisticsGen': 3.0,
          'Trainer': 36.0,
          'Evaluator': 5.8,
          'ServingCheck': 4.0,
          'Pusher': 0.1,
        },
      }
    ],
    'bare_script': [{'seconds_wall': 45.0, 'seconds': {'train': 38.0}}],
    'bare_eval': [{'examples': 10000, 'seconds': 0.9}],
  }
  rows = [
    ratios.make_row(
      'b', 'b. pipeline ÷ bare script', 's wall', 'pipeline', 'bare', [60.0], [45.0], goal='≤ 1.15'
    ),
    ratios.make_row(
      'c',
      'c. ExampleGen ÷ bare TFRecordWriter',
      'examples/s',
      'ExampleGen',
      'writer',
      [26000.0],
      [38000.0],
      goal='≥ 0.5',
    ),
    ratios.make_row(
      'd',
      'd. Evaluator ÷ bare serving_default loop',
      'examples/s',
      'Evaluator',
      'loop',
      [1700.0],
      [11000.0],
      goal='≥ 0.5',
    ),
    ratios.make_row(
      'a', 'a. Trainer ÷ bare keras.fit', 'examples/s', 'Trainer', 'fit', [1.0], [1.0]
    ),
  ]
  lines = ratios.verdicts(rows, raw)
  assert len(lines) == 3  # a has no goal
  assert lines[0].startswith('MISS b. pipeline ÷ bare script: 1.33× (goal ≤ 1.15): ')
  assert "pipeline's 15.0 s over the bare script" in lines[0]
  assert 'Trainer took 36.0 s' in lines[0] and "bare training's 38.0 s" in lines[0]
  assert 'Evaluator 5.8, ServingCheck 4.0, StatisticsGen 3.0, MnistExampleGen 2.7 s' in lines[0]
  assert 'Pusher' not in lines[0]  # under half a second
  assert 'the report 8.4 s' in lines[0]
  assert lines[1] == 'PASS c. ExampleGen ÷ bare TFRecordWriter: 0.68× (goal ≥ 0.5)'
  assert lines[2].startswith('MISS d.') and '5.8 s for 10,000 examples' in lines[2]
  assert ratios.meets(1.15, '≤ 1.15') and not ratios.meets(0.49, '≥ 0.5')


def test_epoch_clock_leaves_the_first_epoch_out():
  clock = ratios.EpochClock()
  clock.ends = [10.0, 12.0, 14.0]  # epoch 1 ended at 10 s (tracing), then 2 s per epoch
  assert clock.steady_examples_per_s(1000) == pytest.approx(500.0)
  clock.ends = [10.0]
  with pytest.raises(ValueError):
    clock.steady_examples_per_s(1000)


@pytest.mark.slow
def test_quick_mode_end_to_end_on_tiny_sizes(tmp_path, mnist_dir):
  out = tmp_path / 'ratios.json'
  proc = subprocess.run(
    [
      sys.executable,
      'benchmarks/ratios.py',
      '--quick',
      '--train-examples',
      '512',
      '--eval-examples',
      '256',
      '--repeats',
      '1',
      '--matmul-n',
      '1024',
      '--data-dir',
      mnist_dir,
      '--json',
      str(out),
    ],
    cwd=REPO,
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    text=True,
    timeout=600,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'Ratio benchmark (quick mode)' in proc.stdout and 'Machine:' in proc.stdout
  result = json.loads(out.read_text())
  keys = [row['key'] for row in result['rows']]
  assert keys == ['a', 'b', 'c', 'd', 'e1', 'e2', 'f']
  for row in result['rows']:
    assert math.isfinite(row['ratio']) and row['ratio'] > 0, row
    assert len(row['a_values']) == len(row['b_values']) == 1, row
    assert all(math.isfinite(v) and v > 0 for v in row['a_values'] + row['b_values']), row
    assert row['name'] in proc.stdout
  raw = result['raw']
  assert raw['pipeline'][0]['components']['MnistExampleGen'] > 0
  assert raw['bare_writer'][0]['examples'] == 512 + 256
  assert raw['bare_eval'][0]['examples'] == 256
  assert len(raw['serving_seconds']['classify_1']) == 100
  assert result['training_flops_per_example'] == 83_303_424
  assert result['machine']['logical_cpus'] >= 1 and result['machine']['load_before']


def test_pipeline_runs_train_as_the_bare_side_does():
  """The pipeline's defaults (bfloat16 where the CPU has it, augmentation) are pinned off for the
  ratios: the flags the benchmark passes reach the Trainer's config as float32, no augmentation."""
  import argparse

  from pipeline import config as config_lib
  from pipeline import flags

  parser = argparse.ArgumentParser()
  flags.add_arguments(parser)
  training = config_lib.training_from_args(parser.parse_args(ratios.same_work_flags()))
  assert {key: getattr(training, key) for key in ratios.SAME_WORK} == ratios.SAME_WORK
  assert training.precision == 'float32'
  assert not (training.augment_rotation or training.augment_zoom or training.augment_shift)
