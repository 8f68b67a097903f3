"""Benchmark: the default pipeline on full MNIST must reach the goal on this machine.

Goals: the default run pushes test accuracy >= 0.996 (the median over seeds;
3 by default) within 5 minutes wall each, blessed and pushed; the data-validation stages
(ImportSchemaGen, StatisticsGen, SchemaGen, ExampleValidator) add at most 10 % to the rest of the
run's wall time. Each seed is a fresh `local_runner.py --seed N` in its own output dir.
Usage: .venv/bin/python benchmarks/full_run.py [--data-dir DIR] [--seeds 1,2,3] [--json FILE]
(or `make benchmark`, `make benchmark SEEDS=1` for one run)
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOAL_ACCURACY = 0.996  # the median over the seeds
GOAL_SECONDS = 5 * 60  # each run, as a user waits for it: the runner's process, start to exit
VALIDATION_STAGES = ('ImportSchemaGen', 'StatisticsGen', 'SchemaGen', 'ExampleValidator')
GOAL_VALIDATION_SHARE = 0.10  # of the wall time of everything else


def component_seconds(stdout: str) -> Dict[str, float]:
  """The runner's one line per component: 'Trainer   240.8 s' (cached ones are skipped)."""
  return {
    name: float(seconds)
    for name, seconds in re.findall(r'^(\w+)\s+([\d.]+) s(?! \(cached\))', stdout, re.M)
  }


def run_once(data_dir, seed: int) -> Dict:
  """One default run with this seed, in a fresh output dir: its numbers and its output."""
  with tempfile.TemporaryDirectory() as output_dir:
    command = [sys.executable, 'local_runner.py', '--output-dir', output_dir, '--seed', str(seed)]
    if data_dir:
      command += ['--data-dir', data_dir]
    started = time.monotonic()
    proc = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    seconds = time.monotonic() - started
  match = re.search(r'Test accuracy:\s+([\d.]+)', proc.stdout)
  components = component_seconds(proc.stdout)
  validation = sum(components.get(stage, 0.0) for stage in VALIDATION_STAGES)
  return {
    'seed': seed,
    'accuracy': float(match.group(1)) if match else float('nan'),
    'wall_seconds': round(seconds, 1),
    'exit_code': proc.returncode,
    'components': components,
    'validation_seconds': validation,
    'validation_share': validation / max(seconds - validation, 1e-9),
    'stdout': proc.stdout,
  }


def judge(runs: List[Dict]) -> Dict[str, bool]:
  """Each goal, worded with its numbers, and whether it was met."""
  accuracy = statistics.median(r['accuracy'] for r in runs)
  slowest = max(r['wall_seconds'] for r in runs)
  share = max(r['validation_share'] for r in runs)
  accuracies = ', '.join(f'{r["accuracy"]:.4f}' for r in runs)
  return {
    'exit 0 (blessed and pushed) every run': all(r['exit_code'] == 0 for r in runs),
    f'median test accuracy {accuracy:.4f} ({accuracies}) >= {GOAL_ACCURACY}': accuracy
    >= GOAL_ACCURACY,
    f'slowest wall {slowest:.0f} s <= {GOAL_SECONDS} s': slowest <= GOAL_SECONDS,
    f'data validation at most {share:.1%} of the rest <= {GOAL_VALIDATION_SHARE:.0%}': share
    <= GOAL_VALIDATION_SHARE,
  }


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--data-dir', default=os.environ.get('MNIST_DATA_DIR'))
  parser.add_argument(
    '--seeds', default='1,2,3', help='comma-separated, one run each (default: %(default)s)'
  )
  parser.add_argument('--json', metavar='FILE', help='also write the numbers here')
  args = parser.parse_args()
  try:
    seeds = [int(seed) for seed in args.seeds.split(',')]
  except ValueError:
    parser.error(f'--seeds: comma-separated integers, got {args.seeds!r}')
  runs = []
  for seed in seeds:
    run = run_once(args.data_dir, seed)
    print(run['stdout'])
    print(
      f'benchmark: seed {seed}: accuracy {run["accuracy"]:.4f}, wall {run["wall_seconds"]:.0f} s, '
      f'exit {run["exit_code"]}',
      flush=True,
    )
    runs.append(run)
  checks = judge(runs)
  for check, ok in checks.items():
    print(f'benchmark: {check}: {"ok" if ok else "FAIL"}')
  ok = all(checks.values())
  print(f'benchmark: {"PASS" if ok else "FAIL"}')
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(
        {
          'runs': [{k: v for k, v in r.items() if k != 'stdout'} for r in runs],
          'checks': checks,
          'pass': ok,
        },
        f,
        indent=1,
      )
  return 0 if ok else 1


if __name__ == '__main__':
  sys.exit(main())
