"""How each stage's time and the run's peak memory grow with the data: 1×, 3× and 10× MNIST.

    .venv/bin/python benchmarks/scale.py [--factors 1,3,10] [--cache-dir DIR] [--data-dir DIR]
                                          [--epochs 1] [--json FILE] [--plot FILE.svg]
    make benchmark-scale             (1×, 3×, 10×; ARGS= adds flags, e.g. ARGS="--factors 1,2")

A k× set is MNIST's four IDX files made k times longer: copy 0 is MNIST itself, copies 1..k-1 are
the same images shifted (±3 px) and rotated (±15°), nearest-neighbour, with parameters drawn from a
fixed seed per copy, so the set is the same byte for byte on every machine. Both splits grow (a 10×
set has 600,000 training and 100,000 test images). Each set is written once, as a stream, to
<cache dir>/scaled-<k>x (default cache dir: the download cache, $XDG_CACHE_HOME/mnist-tfx) and
reused. MNIST itself is found as the pipeline finds it: --data-dir, $MNIST_DATA_DIR, else the
download cache.

Each factor gets one `local_runner.py --dataset idx --no-cache` run in a fresh output dir, with a
short training (--epochs 1 by default, no augmentation, bounds relaxed so every run is blessed and
pushed): the point is how each stage's cost grows, not the model. Per stage it prints the seconds
(the runner's own line per component; `report` is from the last component's line to the summary's
`Report:` line) and the peak memory: the summed RSS of the runner and all its descendants, sampled
from /proc every SAMPLE_SECONDS, and cross-checked against the kernel's own peak of the largest
single process of the tree (wait4's ru_maxrss), which the sampled sum can never be below.

Goals: every stage's seconds at the largest factor at most TIME_GOAL_PER_FACTOR × factor of its 1×
seconds (11× at 10×), and the peak memory of the largest factor at most MEMORY_GOAL × the 1× run's.
"""

import argparse
import gzip
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE_SECONDS = 0.2
TIME_GOAL_PER_FACTOR = 1.1  # a stage at k× may take 1.1·k its 1× time: 11× at 10×
MEMORY_GOAL = 1.5  # the largest factor's peak RSS over the 1× run's
FLOOR_SECONDS = 1.0  # a stage quicker than this at 1× is judged against this (timer noise)
MAX_SHIFT = 3  # pixels, each way
MAX_ROTATION = 15.0  # degrees, each way
BUILD_CHUNK = 5000  # images transformed and compressed at a time
SEED = 20  # the copies' parameters: numpy's PCG64 from (SEED, copy)
SPLITS = {
  'train': ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz'),
  't10k': ('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'),
}
REPORT_STAGE = 'report'


# ---------------------------------------------------------------- pure parts (unit-tested)


def transform(images: np.ndarray, shifts: np.ndarray, angles: np.ndarray) -> np.ndarray:
  """Each uint8 image [N, H, W] rotated by angles[i] degrees about its centre, then moved by
  shifts[i] = (dy, dx) pixels; nearest neighbour, zeros where nothing maps."""
  n, h, w = images.shape
  ys, xs = np.meshgrid(
    np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing='ij'
  )
  cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
  theta = np.deg2rad(angles)[:, None, None]
  # Where each output pixel comes from: undo the shift, then the rotation.
  dy = ys[None] - shifts[:, 0, None, None] - cy
  dx = xs[None] - shifts[:, 1, None, None] - cx
  src_y = np.rint(np.cos(theta) * dy - np.sin(theta) * dx + cy).astype(np.int64)
  src_x = np.rint(np.sin(theta) * dy + np.cos(theta) * dx + cx).astype(np.int64)
  inside = (src_y >= 0) & (src_y < h) & (src_x >= 0) & (src_x < w)
  index = np.arange(n)[:, None, None]
  out = images[index, np.clip(src_y, 0, h - 1), np.clip(src_x, 0, w - 1)]
  return np.where(inside, out, 0).astype(np.uint8)


def copy_parameters(copy: int, count: int) -> Tuple[np.ndarray, np.ndarray]:
  """(shifts [count, 2] ints, angles [count] degrees) of copy `copy` (copy 0: the originals)."""
  if copy == 0:
    return np.zeros((count, 2), np.int64), np.zeros(count)
  rng = np.random.Generator(np.random.PCG64([SEED, copy]))
  shifts = rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, size=(count, 2))
  angles = rng.uniform(-MAX_ROTATION, MAX_ROTATION, size=count)
  return shifts, angles


def scaled_chunks(
  images: np.ndarray, factor: int, chunk: int = BUILD_CHUNK
) -> Iterator[np.ndarray]:
  """The k× images in order, `chunk` at most at a time: copy 0, then copies 1..k-1."""
  for copy in range(factor):
    shifts, angles = copy_parameters(copy, len(images))
    for start in range(0, len(images), chunk):
      end = min(start + chunk, len(images))
      part = images[start:end]
      yield part if copy == 0 else transform(part, shifts[start:end], angles[start:end])


def _idx_header(magic: int, shape: Sequence[int]) -> bytes:
  return b''.join(int(v).to_bytes(4, 'big') for v in (magic, *shape))


def write_scaled_split(
  images: np.ndarray,
  labels: np.ndarray,
  factor: int,
  images_path: str,
  labels_path: str,
  chunk: int = BUILD_CHUNK,
) -> None:
  """Writes the k× images and labels as gzip'd IDX files (level 1: fast; any level reads the
  same), streamed: memory is the source plus one chunk."""
  n, rows, cols = images.shape
  with gzip.open(images_path, 'wb', compresslevel=1) as f:
    f.write(_idx_header(2051, (n * factor, rows, cols)))
    for part in scaled_chunks(images, factor, chunk):
      f.write(part.tobytes())
  with gzip.open(labels_path, 'wb', compresslevel=1) as f:
    f.write(_idx_header(2049, (n * factor,)))
    for _ in range(factor):
      f.write(labels.astype(np.uint8).tobytes())


def build_scaled(source_dir: str, factor: int, target: str, load_split=None) -> str:
  """The k× set in `target` (written once: a folder holding all four files is reused). Written
  to a temporary sibling and renamed, so an interrupted build is never taken for a set."""
  if all(os.path.isfile(os.path.join(target, name)) for pair in SPLITS.values() for name in pair):
    return target
  if load_split is None:
    sys.path.insert(0, REPO)
    from components.lib import idx

    load_split = idx.load_split
  parent = os.path.dirname(os.path.abspath(target))
  os.makedirs(parent, exist_ok=True)
  work = tempfile.mkdtemp(prefix='.building-', dir=parent)
  try:
    for prefix, (images_name, labels_name) in SPLITS.items():
      split = load_split(source_dir, prefix)
      write_scaled_split(
        split.images,
        split.labels,
        factor,
        os.path.join(work, images_name),
        os.path.join(work, labels_name),
      )
    shutil.rmtree(target, ignore_errors=True)
    os.rename(work, target)
  finally:
    shutil.rmtree(work, ignore_errors=True)
  return target


def judge(runs: Dict[int, Dict[str, Any]]) -> List[Tuple[str, bool]]:
  """Each goal as one line with its numbers, and whether it holds: every stage's seconds at the
  largest factor k against TIME_GOAL_PER_FACTOR·k × its 1× seconds; peak memory at k against
  MEMORY_GOAL × 1×'s."""
  if 1 not in runs or len(runs) < 2:
    raise ValueError('the goals compare a larger factor with 1×: run at least --factors 1,K')
  k = max(runs)
  base, big = runs[1], runs[k]
  bound = TIME_GOAL_PER_FACTOR * k
  verdicts = []
  for stage, seconds in base['stages'].items():
    if stage not in big['stages']:
      verdicts.append((f'{stage}: missing from the {k}× run', False))
      continue
    ratio = big['stages'][stage] / max(seconds, FLOOR_SECONDS)
    floor = f' (judged as {FLOOR_SECONDS:g} s)' if seconds < FLOOR_SECONDS else ''
    verdicts.append(
      (
        f'{stage}: {big["stages"][stage]:.1f} s at {k}× = {ratio:.1f}× its '
        f'{seconds:.1f} s at 1×{floor} (goal ≤ {bound:g}×)',
        ratio <= bound,
      )
    )
  ratio = big['peak_mib'] / max(base['peak_mib'], 1e-9)
  worst = max(big.get('stage_peak_mib', {}).items(), key=lambda kv: kv[1], default=None)
  where = f', highest during {worst[0]}' if worst else ''
  verdicts.append(
    (
      f'peak memory: {big["peak_mib"]:.0f} MiB at {k}× = {ratio:.2f}× the '
      f'{base["peak_mib"]:.0f} MiB at 1×{where} (goal ≤ {MEMORY_GOAL:g}×)',
      ratio <= MEMORY_GOAL,
    )
  )
  return verdicts


def stage_windows(
  lines: Sequence[Tuple[float, str]], started: float
) -> List[Tuple[str, float, float]]:
  """(stage, start, end) per component line 'Name   12.3 s' (each window from the previous
  component's line), and `report`: from the last component line to the summary's 'Report:'."""
  import re

  windows, last = [], started
  for stamp, line in lines:
    match = re.match(r'^(\w+)\s+([\d.]+) s(?: \(.*\))?$', line)
    if match:
      windows.append((match.group(1), last, stamp))
      last = stamp
    elif line.startswith('Report:') and windows:
      windows.append((REPORT_STAGE, last, stamp))
  return windows


# ---------------------------------------------------------------- measurement


def tree_rss_bytes(root: int) -> int:
  """Summed resident memory of `root` and every descendant (from /proc)."""
  children: Dict[int, List[int]] = {}
  rss: Dict[int, int] = {}
  page = os.sysconf('SC_PAGE_SIZE')
  for name in os.listdir('/proc'):
    if not name.isdigit():
      continue
    try:
      with open(f'/proc/{name}/stat') as f:
        stat = f.read()
      with open(f'/proc/{name}/statm') as f:
        resident = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
      continue
    fields = stat[stat.rindex(')') + 2 :].split()
    pid = int(name)
    children.setdefault(int(fields[1]), []).append(pid)
    rss[pid] = resident * page
  total, todo = 0, [root]
  while todo:
    pid = todo.pop()
    total += rss.get(pid, 0)
    todo.extend(children.get(pid, ()))
  return total


class Sampler(threading.Thread):
  """(monotonic time, tree RSS bytes) of a process tree every SAMPLE_SECONDS until stopped."""

  def __init__(self, root: int):
    super().__init__(daemon=True)
    self.root, self.done = root, threading.Event()
    self.samples: List[Tuple[float, int]] = []

  def run(self):
    while not self.done.is_set():
      self.samples.append((time.monotonic(), tree_rss_bytes(self.root)))
      self.done.wait(SAMPLE_SECONDS)


def run_pipeline(data_dir: str, output_dir: str, epochs: int, verbose: bool) -> Dict[str, Any]:
  command = [
    sys.executable,
    os.path.join(REPO, 'local_runner.py'),
    '--dataset',
    'idx',
    '--data-dir',
    data_dir,
    '--output-dir',
    output_dir,
    '--no-cache',
    '--epochs',
    str(epochs),
    '--augment-rotation',
    '0',
    '--augment-zoom',
    '0',
    '--augment-shift',
    '0',
    '--accuracy-threshold',
    '0',
    '--label-drift-bound',
    '1',
  ]
  started = time.monotonic()
  proc = subprocess.Popen(
    command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
  )
  sampler = Sampler(proc.pid)
  sampler.start()
  lines = []
  assert proc.stdout is not None  # stdout=PIPE
  for line in proc.stdout:
    lines.append((time.monotonic(), line.rstrip('\n')))
    if verbose:
      print('    ' + line.rstrip('\n'), file=sys.stderr, flush=True)
  _, status, usage = os.wait4(proc.pid, 0)  # its ru_maxrss: the largest process of the tree
  proc.returncode = os.waitstatus_to_exitcode(status)
  sampler.done.set()
  sampler.join()
  seconds = time.monotonic() - started
  if proc.returncode not in (0,):
    tail = '\n'.join(line for _, line in lines[-40:])
    raise RuntimeError(f'the pipeline run exited {proc.returncode}:\n{tail}')
  stages, stage_peak = {}, {}
  for stage, start, end in stage_windows(lines, started):
    stages[stage] = round(end - start, 1)
    inside = [rss for stamp, rss in sampler.samples if start <= stamp <= end]
    stage_peak[stage] = round(max(inside, default=0) / 2**20, 1)
  peak = max((rss for _, rss in sampler.samples), default=0)
  largest = usage.ru_maxrss * 1024  # KiB on Linux
  return {
    'seconds': round(seconds, 1),
    'stages': stages,
    'stage_peak_mib': stage_peak,
    'peak_mib': round(peak / 2**20, 1),
    'largest_process_mib': round(largest / 2**20, 1),
    'samples': len(sampler.samples),
    'peak_consistent': peak >= 0.95 * largest,
  }  # sampling may miss a spike by a little


def plot(runs: Dict[int, Dict[str, Any]], path: str, title: str) -> None:
  import matplotlib

  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  import matplotlib.ticker

  factors = sorted(runs)
  fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
  stages = [s for s, seconds in runs[1]['stages'].items() if seconds >= FLOOR_SECONDS]
  colors = plt.get_cmap('tab10')
  for i, stage in enumerate(stages):
    seconds = [runs[k]['stages'].get(stage, math.nan) for k in factors]
    left.plot(factors, seconds, marker='o', color=colors(i % 10), label=stage)
    left.plot(
      factors,
      [seconds[0] * TIME_GOAL_PER_FACTOR * k for k in factors],
      ':',
      linewidth=0.8,
      color=colors(i % 10),
    )
  left.set(
    xscale='log',
    yscale='log',
    xlabel='data (× MNIST)',
    ylabel='seconds',
    title=f'seconds per stage ≥ {FLOOR_SECONDS:g} s at 1× (dotted: its goal)',
  )
  right.set_xscale('log')
  for axes in (left, right):
    axes.set_xticks(factors, [f'{k}×' for k in factors])
    axes.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
  left.legend(fontsize=7, loc='upper left')
  right.plot(factors, [runs[k]['peak_mib'] for k in factors], marker='o', label='runner + children')
  right.plot(
    factors,
    [MEMORY_GOAL * runs[factors[0]]['peak_mib']] * len(factors),
    ':',
    color='red',
    label=f'goal: {MEMORY_GOAL:g}× the 1× peak',
  )
  right.set(xlabel='data (× MNIST)', ylabel='MiB', title='peak RSS: runner and its children')
  right.set_ylim(bottom=0)
  right.legend(fontsize=7)
  fig.suptitle(title, fontsize=9)
  fig.tight_layout()
  fig.savefig(path)


def save(
  path: Optional[str],
  factors: Sequence[int],
  epochs: int,
  runs: Dict[int, Dict[str, Any]],
  verdicts=None,
) -> None:
  if path:
    with open(path, 'w') as f:
      json.dump(
        {
          'factors': list(factors),
          'epochs': epochs,
          'runs': {str(k): v for k, v in sorted(runs.items())},
          'verdicts': verdicts,
        },
        f,
        indent=1,
      )


def measure(factors: Sequence[int], args) -> Optional[Dict[int, Dict[str, Any]]]:
  """One pipeline run per factor: 1×, the largest, then the others (so an interrupted benchmark
  has the goals' two ends first), each saved to --json as soon as it is done."""
  sys.path.insert(0, REPO)
  from components.lib import download
  from pipeline.local.errors import RunError
  from pipeline.local.preflight import find_data

  try:
    source = find_data(args.data_dir)
  except RunError as e:
    print(e, file=sys.stderr)
    return None
  cache = os.path.abspath(args.cache_dir or download.default_cache_dir())
  runs: Dict[int, Dict[str, Any]] = {}
  for k in [1, factors[-1], *factors[1:-1]]:
    folder = os.path.join(cache, f'scaled-{k}x')
    started = time.monotonic()
    build_scaled(source, k, folder)
    print(
      f'[{time.strftime("%H:%M:%S")}] {k}× set: {folder} ({time.monotonic() - started:.0f} s); '
      f'running the pipeline…',
      file=sys.stderr,
      flush=True,
    )
    with tempfile.TemporaryDirectory(prefix=f'mnist-scale-{k}x-') as output_dir:
      runs[k] = run_pipeline(folder, output_dir, args.epochs, args.verbose)
    print(
      f'[{time.strftime("%H:%M:%S")}] {k}×: {runs[k]["seconds"]:.0f} s, peak '
      f'{runs[k]["peak_mib"]:.0f} MiB',
      file=sys.stderr,
      flush=True,
    )
    save(args.json, factors, args.epochs, runs)
  return runs


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument(
    '--factors', default='1,3,10', help='comma-separated, must include 1 (default: 1,3,10)'
  )
  parser.add_argument(
    '--data-dir', help="MNIST's folder; default: $MNIST_DATA_DIR, else the download cache"
  )
  parser.add_argument(
    '--cache-dir', help='where the scaled sets are written once (default: the download cache)'
  )
  parser.add_argument('--epochs', type=int, default=1, help='training epochs per run (default: 1)')
  parser.add_argument('--json', metavar='FILE', help='also write every number here')
  parser.add_argument('--plot', metavar='FILE', help='draw the curves here (.svg or .png)')
  parser.add_argument('--verbose', action='store_true', help="show the runs' output")
  parser.add_argument(
    '--from-json',
    metavar='FILE',
    help='judge, print and draw the numbers a '
    'run saved with --json (all or some of its factors) instead of running',
  )
  args = parser.parse_args(argv)
  try:
    factors = sorted({int(f) for f in args.factors.split(',')})
  except ValueError:
    parser.error(f'--factors takes whole numbers separated by commas, got {args.factors!r}')
  if factors[0] != 1 or len(factors) < 2:
    parser.error('--factors must include 1 and a larger factor, e.g. 1,10')

  if args.from_json:
    with open(args.from_json) as f:
      saved = json.load(f)
    runs = {int(k): v for k, v in saved['runs'].items() if int(k) in factors}
    factors, args.epochs = sorted(runs), saved['epochs']
    if 1 not in runs or len(runs) < 2:
      print(
        f'error: {args.from_json} holds factors {sorted(map(int, saved["runs"]))}; '
        'need 1 and a larger one',
        file=sys.stderr,
      )
      return 1
  else:
    measured = measure(factors, args)
    if measured is None:
      return 1
    runs = measured
  print(
    f'Scaling benchmark: MNIST ×{", ×".join(map(str, factors))} (--dataset idx, '
    f'{args.epochs} epoch(s), no augmentation: a short training, since the point is how each '
    f'stage grows)'
  )
  stages = list(runs[1]['stages'])
  width = max(len(s) for s in stages + ['peak MiB (sampled)'])
  print(
    f'{"stage":<{width}} ' + ' '.join(f'{f"{k}× s":>9}' for k in factors) + f'   {factors[-1]}×/1×'
  )
  for stage in stages:
    values = [runs[k]['stages'].get(stage, math.nan) for k in factors]
    shown = f'{values[-1] / values[0]:6.1f}×' if values[0] >= 0.05 else '     – '  # 0.0 s at 1×
    print(f'{stage:<{width}} ' + ' '.join(f'{v:9.1f}' for v in values) + f'   {shown}')
  for label, key in (
    ('total s', 'seconds'),
    ('peak MiB (sampled)', 'peak_mib'),
    ('largest process MiB', 'largest_process_mib'),
  ):
    values = [runs[k][key] for k in factors]
    print(
      f'{label:<{width}} '
      + ' '.join(f'{v:9.1f}' for v in values)
      + f'   {values[-1] / max(values[0], 1e-9):6.1f}×'
    )
  print(
    'peak MiB per stage: '
    + '; '.join(
      f'{s} ' + '/'.join(f'{runs[k]["stage_peak_mib"].get(s, 0):.0f}' for k in factors)
      for s in stages
    )
  )
  for k in factors:
    if not runs[k]['peak_consistent']:
      print(
        f'warning: at {k}× the sampled tree peak {runs[k]["peak_mib"]} MiB is below the largest '
        f'single process ({runs[k]["largest_process_mib"]} MiB): a spike fell between samples'
      )
  verdicts = judge(runs)
  for text, ok in verdicts:
    print(f'{"PASS" if ok else "MISS"}  {text}')
  missed = sum(not ok for _, ok in verdicts)
  print('PASS: every goal met' if not missed else f'MISSED: {missed} of {len(verdicts)} goals')
  if not args.from_json:
    save(args.json, factors, args.epochs, runs, verdicts)
  if args.plot:
    plot(
      runs,
      args.plot,
      f'MNIST ×{", ×".join(map(str, factors))}: local_runner.py --dataset idx '
      f'--epochs {args.epochs}, {os.cpu_count()} cores (benchmarks/scale.py)',
    )
  return 0 if not missed else 1


if __name__ == '__main__':
  sys.exit(main())
