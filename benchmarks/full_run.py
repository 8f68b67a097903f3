"""Benchmark: the default pipeline on full MNIST must reach the goal on this machine.

Goals: test accuracy >= 0.993 within 15 minutes wall, blessed and pushed (issue #2); the
data-validation stages (ImportSchemaGen, StatisticsGen, SchemaGen, ExampleValidator) add at most
10 % to the rest of the run's wall time (issue #10).
Usage: .venv/bin/python benchmarks/full_run.py [--data-dir DIR]   (or `make benchmark`)
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from typing import Dict

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOAL_ACCURACY = 0.993
GOAL_SECONDS = 15 * 60
VALIDATION_STAGES = ('ImportSchemaGen', 'StatisticsGen', 'SchemaGen', 'ExampleValidator')
GOAL_VALIDATION_SHARE = 0.10  # of the wall time of everything else


def component_seconds(stdout: str) -> Dict[str, float]:
  """The runner's one line per component: 'Trainer   240.8 s' (cached ones are skipped)."""
  return {name: float(seconds) for name, seconds in
          re.findall(r'^(\w+)\s+([\d.]+) s(?! \(cached\))', stdout, re.M)}


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--data-dir', default=os.environ.get('MNIST_DATA_DIR'))
  parser.add_argument('--json', metavar='FILE', help='also write the numbers here')
  args = parser.parse_args()
  with tempfile.TemporaryDirectory() as output_dir:
    command = [sys.executable, 'local_runner.py', '--output-dir', output_dir]
    if args.data_dir:
      command += ['--data-dir', args.data_dir]
    started = time.monotonic()
    proc = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    seconds = time.monotonic() - started
  print(proc.stdout)
  match = re.search(r'Test accuracy:\s+([\d.]+)', proc.stdout)
  accuracy = float(match.group(1)) if match else float('nan')
  components = component_seconds(proc.stdout)
  validation = sum(components.get(stage, 0.0) for stage in VALIDATION_STAGES)
  share = validation / max(seconds - validation, 1e-9)
  checks = {'exit 0 (blessed and pushed)': proc.returncode == 0,
            f'accuracy {accuracy:.4f} >= {GOAL_ACCURACY}': accuracy >= GOAL_ACCURACY,
            f'wall {seconds:.0f} s <= {GOAL_SECONDS} s': seconds <= GOAL_SECONDS,
            f'data validation {validation:.1f} s = {share:.1%} of the rest <= {GOAL_VALIDATION_SHARE:.0%}':
                share <= GOAL_VALIDATION_SHARE}
  for check, ok in checks.items():
    print(f'benchmark: {check}: {"ok" if ok else "FAIL"}')
  ok = all(checks.values())
  print(f'benchmark: {"PASS" if ok else "FAIL"}')
  if args.json:
    with open(args.json, 'w') as f:
      json.dump({'accuracy': accuracy, 'wall_seconds': round(seconds, 1), 'exit_code': proc.returncode,
                 'components': components, 'validation_seconds': validation,
                 'validation_share': share, 'pass': ok}, f, indent=1)
  return 0 if ok else 1


if __name__ == '__main__':
  sys.exit(main())
