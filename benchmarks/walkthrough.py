"""A newcomer's first ten minutes, timed: a fresh clone of this repository, then README.md's own
commands in order — install, a smoke run, inspect, predict, a second run and compare — and the
commands the run summaries print, each pasted exactly as written and started from a directory
that is not the clone.

    .venv/bin/python benchmarks/walkthrough.py [--keep] [--json FILE]
    make benchmark-walkthrough

Goal: the whole walkthrough within 10 minutes, every command exiting 0. Clones the committed
HEAD (uncommitted changes are not in it), installs a new .venv there (pip's cache makes that a
matter of minutes), and needs the MNIST files as the pipeline finds them ($MNIST_DATA_DIR, else
the download cache, else a download). The clone is removed afterwards unless --keep.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOAL_SECONDS = 600
INSTALL = 'make install'
# README.md's lines, in the order a newcomer meets them; each must be in README.md word for word.
EXPORT = 'export PATH="$PWD/.venv/bin:$PATH" MNIST_TFX="$PWD"'
STEPS = (
  'mnist-tfx run --demo',
  'mnist-tfx inspect --demo runs',
  (
    'mnist-tfx predict --demo "$MNIST_TFX"/trainer_module/seed_examples/example5.png '
    '"$MNIST_TFX"/trainer_module/seed_examples/example3.png'
  ),
  'mnist-tfx run --demo --epochs 3',
  'mnist-tfx inspect --demo compare',
)
# The summary's lines that hold a command, pasted as printed (after the label).
SUMMARY_COMMANDS = ('Inspect:', 'Try it:', 'Compare:')


def readme_lines(readme: str) -> List[str]:
  """The README's code-block lines, without their trailing `# …` comment and spaces."""
  lines, inside = [], False
  for line in readme.splitlines():
    if line.startswith('```'):
      inside = not inside
    elif inside:
      lines.append(re.sub(r'\s+#\s.*$', '', line).strip())
  return lines


def missing_from_readme(readme: str) -> List[str]:
  """Which of the walkthrough's commands README.md no longer holds word for word."""
  held = set(readme_lines(readme))
  return [c for c in (INSTALL, EXPORT) + STEPS if c not in held]


def summary_commands(output: str) -> List[str]:
  """The commands a run summary printed (Inspect:, Try it:, Compare:), as a person pastes them."""
  found = []
  for line in output.splitlines():
    for label in SUMMARY_COMMANDS:
      if line.startswith(label):
        found.append(line[len(label) :].strip())
  return found


def shell(command: str, cwd: str, env: Dict[str, str]) -> Tuple[float, int, str]:
  started = time.perf_counter()
  proc = subprocess.run(['bash', '-c', command], cwd=cwd, env=env, capture_output=True, text=True)
  return time.perf_counter() - started, proc.returncode, proc.stdout + proc.stderr


def walk(clone: str, elsewhere: str) -> List[dict]:
  env = dict(os.environ, PATH=f'{clone}/.venv/bin:{os.environ["PATH"]}', MNIST_TFX=clone)
  env.pop('VIRTUAL_ENV', None)
  steps = []

  def step(command, cwd):
    seconds, code, output = shell(command, cwd, env)
    steps.append({'command': command, 'cwd': cwd, 'seconds': round(seconds, 1), 'exit': code})
    print(f'{seconds:7.1f} s  exit {code}  {command}', flush=True)
    if code != 0:
      print('    ' + '\n    '.join(output.strip().splitlines()[-8:]), flush=True)
    return output

  step(INSTALL, clone)
  for command in STEPS:
    output = step(command, elsewhere)
    if command.startswith('mnist-tfx run'):
      for printed in summary_commands(output):
        step(printed, elsewhere)
  return steps


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--keep', action='store_true', help='keep the clone (its path is printed)')
  parser.add_argument('--json', metavar='FILE', help='also write the steps and times here')
  args = parser.parse_args(argv)
  with open(os.path.join(ROOT, 'README.md'), encoding='utf-8') as f:
    missing = missing_from_readme(f.read())
  if missing:
    print('error: README.md no longer holds: ' + '; '.join(missing), file=sys.stderr)
    return 2
  tmp = tempfile.mkdtemp(prefix='walkthrough-')
  clone, elsewhere = os.path.join(tmp, 'mnist-tfx'), os.path.join(tmp, 'elsewhere')
  os.makedirs(elsewhere)
  started = time.perf_counter()
  subprocess.run(['git', 'clone', '--quiet', ROOT, clone], check=True)
  print(f'Clone of {ROOT} (HEAD) at {clone}; commands run from {elsewhere}', flush=True)
  try:
    steps = walk(clone, elsewhere)
  finally:
    total = time.perf_counter() - started
    if not args.keep:
      shutil.rmtree(tmp, ignore_errors=True)
  failed = [s['command'] for s in steps if s['exit'] != 0]
  ok = not failed and total <= GOAL_SECONDS
  print(
    f'Total: {total:.0f} s for {len(steps)} commands (goal: within {GOAL_SECONDS} s, every one '
    f'exiting 0): {"PASS" if ok else "MISSED"}'
    + (f' — failed: {"; ".join(failed)}' if failed else '')
  )
  if args.json:
    with open(args.json, 'w', encoding='utf-8') as f:
      json.dump({'total_seconds': round(total, 1), 'steps': steps, 'pass': ok}, f, indent=1)
  return 0 if ok else 1


if __name__ == '__main__':
  sys.exit(main())
