"""Benchmark: the default pipeline on full MNIST must reach the goal on this machine.

Goal (issue #2): test accuracy >= 0.993 within 15 minutes wall, blessed and pushed.
Usage: .venv/bin/python benchmarks/full_run.py [--data-dir DIR]   (or `make benchmark`)
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOAL_ACCURACY = 0.993
GOAL_SECONDS = 15 * 60


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--data-dir', default=os.environ.get('MNIST_DATA_DIR'))
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
  ok = proc.returncode == 0 and accuracy >= GOAL_ACCURACY and seconds <= GOAL_SECONDS
  print(f'benchmark: accuracy {accuracy:.4f} (goal >= {GOAL_ACCURACY}), wall {seconds:.0f} s '
        f'(goal <= {GOAL_SECONDS}), exit {proc.returncode}: {"PASS" if ok else "FAIL"}')
  return 0 if ok else 1


if __name__ == '__main__':
  sys.exit(main())
