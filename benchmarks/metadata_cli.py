"""How long the read-side commands take, from a fresh process to the last line printed (what a
person waits): `runs`, `lineage VERSION` and `compare`, each as `python -m inspection`
and, where installed, as the `mnist-tfx inspect` console script.

    .venv/bin/python benchmarks/metadata_cli.py [--output-dir DIR] [--repeats N] [--json FILE]
    make benchmark-metadata

Goals: `runs` at most 1.0 s and `lineage` at most 1.5 s (medians); exit 1 when one is missed.
The store is DIR's (default: the recorded two runs of tests/inspection/fixtures, copied
to a temporary dir), so the numbers need no pipeline run. Runs from another working directory
than the project's, as a pasted command does.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOALS = {'runs': 1.0, 'lineage': 1.5}  # seconds, median


def recorded_store(tmp: str) -> str:
  """The tests' recording of two runs, its artifact URIs moved under tmp (make_fixture.py)."""
  sys.path.insert(0, ROOT)
  from tests.inspection.make_fixture import FIXTURE_DIR, FIXTURE_ROOT, move_artifact_uris

  output_dir = os.path.join(tmp, 'D')
  shutil.copytree(FIXTURE_DIR, output_dir)
  move_artifact_uris(os.path.join(output_dir, 'metadata.sqlite'), FIXTURE_ROOT, output_dir)
  return output_dir


def timed(command, cwd: str) -> float:
  started = time.perf_counter()
  proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)
  seconds = time.perf_counter() - started
  if proc.returncode != 0:
    raise SystemExit(
      f'error: {" ".join(command)} exited {proc.returncode}: {proc.stderr.strip()[-300:]}'
    )
  return seconds


def pushed_version(output_dir: str, cwd: str) -> str:
  proc = subprocess.run(
    [sys.executable, '-m', 'inspection', '--output-dir', output_dir, '--json', 'runs'],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=120,
  )
  versions = [r['pushed_version'] or r['already_serving'] for r in json.loads(proc.stdout)]
  found = [v for v in versions if v]
  if not found:
    raise SystemExit(
      f'error: no run in {output_dir} pushed a version: nothing to trace with lineage'
    )
  return found[0]


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument(
    '--output-dir', metavar='DIR', help='a store to read (default: the recorded two runs)'
  )
  parser.add_argument('--repeats', type=int, default=5, metavar='N')
  parser.add_argument('--json', metavar='FILE', help='also write the numbers here')
  args = parser.parse_args(argv)
  with tempfile.TemporaryDirectory(prefix='metadata-cli-') as tmp:
    output_dir = os.path.abspath(args.output_dir) if args.output_dir else recorded_store(tmp)
    elsewhere = tempfile.mkdtemp(dir=tmp)  # not the project root: as a pasted command runs
    version = pushed_version(output_dir, elsewhere)
    forms = {
      'python -m inspection': ['env', f'PYTHONPATH={ROOT}', sys.executable, '-m', 'inspection']
    }
    script = os.path.join(os.path.dirname(sys.executable), 'mnist-tfx')
    if os.path.exists(script):
      forms['mnist-tfx inspect'] = [script, 'inspect']
    commands = {'runs': ['runs'], 'lineage': ['lineage', version], 'compare': ['compare']}
    results, missed = {}, []
    print(f'{"command":<44} {"median s":>9} {"max s":>7}  goal')
    for form, prefix in forms.items():
      for name, rest in commands.items():
        command = prefix + ['--output-dir', output_dir] + rest
        times = [timed(command, elsewhere) for _ in range(args.repeats)]
        median = statistics.median(times)
        goal = GOALS.get(name)
        ok = goal is None or median <= goal
        if not ok:
          missed.append(f'{form} {name}')
        results[f'{form} {name}'] = {
          'median_s': round(median, 3),
          'max_s': round(max(times), 3),
          'goal_s': goal,
          'met': ok,
        }
        print(
          f'{form + " " + name:<44} {median:9.2f} {max(times):7.2f}  '
          + (f'≤ {goal:g} s {"met" if ok else "MISSED"}' if goal else '-')
        )
  if args.json:
    with open(args.json, 'w') as f:
      json.dump({'repeats': args.repeats, 'results': results}, f, indent=1)
  if missed:
    print(f'missed: {", ".join(missed)}', file=sys.stderr)
    return 1
  return 0


if __name__ == '__main__':
  sys.exit(main())
