"""What the pipeline costs over doing the same work without TFX: ratios, measured side by side.

    .venv/bin/python benchmarks/ratios.py [--quick] [--json FILE] [--data-dir DIR]
    make benchmark-ratios            (full: all of MNIST, 2 epochs, 3 repeats)
    make benchmark-ratios QUICK=1    (quick: 2,000 train / 1,000 eval, 1 epoch, 2 repeats)

Every ratio is A ÷ B, A the project's way and B a bare way doing the same work, run in one process
tree, interleaved (A B A B ...), medians of the repeats:

  a. Trainer ÷ bare keras.fit: steady training examples/s (epochs 2..k; the first epoch's tracing
     and warm-up left out), trainer_module.task.train on the ExampleGen's TFRecords vs the same
     seed CNN, batch and schedule fitted on in-memory arrays. No validation split on either side.
  b. pipeline ÷ bare script: wall seconds of `local_runner.py --no-cache` (a subprocess, fresh
     output dir) vs benchmarks/bare.py (a subprocess: read IDX, train, evaluate, export).
  c. ExampleGen ÷ bare TFRecordWriter: examples/s, the MnistExampleGen component's seconds in the
     pipeline run vs a GZIP tf.io.TFRecordWriter loop (in this process) reading the same IDX files
     and writing the same tf.Examples.
  d. Evaluator ÷ bare signature loop: eval examples/s, the Evaluator component's seconds (TFMA) in
     the pipeline run vs loading that run's trained SavedModel and calling `serving_default` on
     the eval TFRecords in batches of 1000, computing accuracy.
  e. classify ÷ predict_on_batch: examples/s at batch 1000 through the exported `classify`
     signature vs Keras `predict_on_batch` on the same model; and one image's p50 latency (p99
     in the raw numbers).
  f. training ÷ matmul ceiling: the Trainer's steady training GFLOP/s (examples/s × the analytic
     FLOPs per example, below) vs tf.linalg.matmul of two large float32 matrices.

The bounds of the pipeline runs are relaxed (--accuracy-threshold 0, --label-drift-bound 1) so
that every run is blessed and pushed whatever the subset, and the Trainer trains as the bare side
does (float32, no augmentation: SAME_WORK below): the work done is the same.
"""

import argparse
import contextlib
import glob
import importlib.util
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.dirname(os.path.abspath(__file__))
PIPELINE_PARTS = (
  'MnistExampleGen',
  'StatisticsGen',
  'ExampleValidator',
  'Trainer',
  'Evaluator',
  'ServingCheck',
  'Pusher',
)
CPU_FLAGS = (
  'avx2',
  'fma',
  'avx512f',
  'avx512_vnni',
  'avx512_bf16',
  'amx_tile',
  'amx_bf16',
  'amx_int8',
)

QUICK = dict(
  train_examples=2000,
  eval_examples=1000,
  epochs=1,
  repeats=2,
  fit_epochs=3,
  matmul_n=2048,
  single_calls=100,
)
FULL = dict(
  train_examples=None,
  eval_examples=None,
  epochs=2,
  repeats=3,
  fit_epochs=3,
  matmul_n=4096,
  single_calls=200,
)


# ---------------------------------------------------------------- pure parts (unit-tested)


def median(values: Sequence[float]) -> float:
  if not values:
    raise ValueError('median of no values')
  ordered = sorted(values)
  mid = len(ordered) // 2
  return float(ordered[mid]) if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


def percentile(values: Sequence[float], q: float) -> float:
  """The q-th percentile (0-100), linear between the closest ranks (numpy's default)."""
  if not values:
    raise ValueError('percentile of no values')
  if not 0 <= q <= 100:
    raise ValueError(f'percentile {q} is outside 0-100')
  ordered = sorted(values)
  rank = (len(ordered) - 1) * q / 100.0
  low = math.floor(rank)
  high = min(low + 1, len(ordered) - 1)
  return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


def ratio(a: float, b: float) -> float:
  """a ÷ b; nan where b is not a positive number (nothing measured)."""
  if not (b > 0) or math.isinf(b):
    return float('nan')
  return a / b


# The seed CNN's multiply-accumulates per example, from its architecture (trainer_module/model.py):
#   conv (k×k, 'same'):  out_h × out_w × filters × (k × k × in_channels)
#   dense:               inputs × units
# Biases, ReLUs, pooling, dropout and the softmax are left out (< 0.1 % of the total).
# Forward FLOPs = 2 × MACs (one multiply, one add). Training FLOPs ≈ 3 × forward: the backward pass
# computes, per layer, the gradient of the inputs and of the weights, each about as costly as the
# forward (the first conv needs no input gradient, so this slightly overstates it: 1.5 %).
def layer_macs(layer: Dict[str, Any]) -> int:
  if layer['kind'] == 'conv':
    return (
      layer['out_h']
      * layer['out_w']
      * layer['filters']
      * layer['kernel_h']
      * layer['kernel_w']
      * layer['in_channels']
    )
  if layer['kind'] == 'dense':
    return layer['inputs'] * layer['units']
  raise ValueError(f'unknown layer kind {layer["kind"]!r}')


def forward_macs(layers: Iterable[Dict[str, Any]]) -> int:
  return sum(layer_macs(layer) for layer in layers)


def training_flops_per_example(layers: Iterable[Dict[str, Any]]) -> int:
  return 3 * 2 * forward_macs(layers)


def describe_model(model) -> List[Dict[str, Any]]:
  """The conv and dense layers of a built Keras model, as layer_macs reads them."""
  layers = []
  for layer in model.layers:
    kind = type(layer).__name__
    if kind == 'Conv2D':
      kh, kw, cin, cout = (int(d) for d in layer.kernel.shape)
      _, out_h, out_w, _ = layer.output.shape
      layers.append(
        dict(
          kind='conv',
          out_h=int(out_h),
          out_w=int(out_w),
          filters=cout,
          kernel_h=kh,
          kernel_w=kw,
          in_channels=cin,
        )
      )
    elif kind == 'Dense':
      inputs, units = (int(d) for d in layer.kernel.shape)
      layers.append(dict(kind='dense', inputs=inputs, units=units))
  return layers


def parse_cpuinfo(text: str) -> Dict[str, Any]:
  """CPU model, logical CPUs and the flags that matter for training speed, from /proc/cpuinfo."""
  model: Optional[str] = None
  flags: Set[str] = set()
  processors = 0
  for line in text.splitlines():
    key, _, value = line.partition(':')
    key, value = key.strip(), value.strip()
    if key == 'processor':
      processors += 1
    elif key == 'model name' and model is None:
      model = value
    elif key == 'flags' and not flags:
      flags = set(value.split())
  return {
    'cpu_model': model or 'unknown',
    'logical_cpus': processors,
    'flags': [f for f in CPU_FLAGS if f in flags],
    'flags_absent': [f for f in CPU_FLAGS if f not in flags],
  }


def make_row(
  key: str,
  name: str,
  unit: str,
  a_label: str,
  b_label: str,
  a_values: Sequence[float],
  b_values: Sequence[float],
  goal: Optional[str] = None,
  **extra,
) -> Dict[str, Any]:
  a, b = median(a_values), median(b_values)
  row = {
    'key': key,
    'name': name,
    'unit': unit,
    'a': a_label,
    'b': b_label,
    'a_median': a,
    'b_median': b,
    'ratio': ratio(a, b),
    'a_values': list(a_values),
    'b_values': list(b_values),
    'pair_ratios': [ratio(x, y) for x, y in zip(a_values, b_values, strict=True)],
    'goal': goal,
  }
  row.update(extra)
  return row


def _num(x: float) -> str:
  if x != x:  # nan
    return 'nan'
  if abs(x) >= 1000:
    return f'{x:,.0f}'
  if abs(x) >= 10:
    return f'{x:.1f}'
  return f'{x:.3g}'


def format_table(rows: Sequence[Dict[str, Any]]) -> str:
  """One line per ratio: what, A and B (medians), ratio, goal; then the raw numbers."""
  header = ('ratio', 'unit', 'A (median)', 'B (median)', 'A ÷ B', 'goal')
  body = [
    (
      r['name'],
      r['unit'],
      f'{_num(r["a_median"])} {r["a"]}',
      f'{_num(r["b_median"])} {r["b"]}',
      f'{r["ratio"]:.2f}×',
      r.get('goal') or '',
    )
    for r in rows
  ]
  widths = [max(len(cells[i]) for cells in [header] + body) for i in range(len(header))]
  lines = [
    '  '.join(c.ljust(w) for c, w in zip(header, widths, strict=True)).rstrip(),
    '  '.join('-' * w for w in widths),
  ]
  lines += [
    '  '.join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip() for cells in body
  ]
  lines.append('raw numbers (in run order):')
  for r in rows:
    lines.append(
      f'  {r["key"]}: A {", ".join(_num(v) for v in r["a_values"])}; '
      f'B {", ".join(_num(v) for v in r["b_values"])}'
    )
    for name, values in (r.get('raw') or {}).items():
      shown = (
        ', '.join(_num(v) for v in values) if isinstance(values, (list, tuple)) else _num(values)
      )
      lines.append(f'     {name}: {shown}')
  return '\n'.join(lines)


def meets(ratio_value: float, goal: str) -> bool:
  """Whether `ratio_value` meets a goal written '≤ X' or '≥ X'."""
  bound = float(goal[1:].strip())
  return ratio_value <= bound if goal.startswith('≤') else ratio_value >= bound


def why_missed(key: str, raw: Dict[str, Any]) -> str:
  """The measured reason a goal was missed, from the last repeat's numbers."""
  if key == 'b':
    pipe, bare = raw['pipeline'][-1], raw['bare_script'][-1]
    parts = pipe['components']
    beside = sorted(((s, k) for k, s in parts.items() if k != 'Trainer'), reverse=True)
    rest = pipe['seconds'] - sum(parts.values())
    return (
      f"the pipeline's {pipe['seconds'] - bare['seconds_wall']:.1f} s over the bare script "
      f'do not grow with the epochs: its Trainer took {parts.get("Trainer", float("nan")):.1f} s '
      f"against bare training's {bare['seconds']['train']:.1f} s, and beside it ran "
      + ', '.join(f'{k} {s:.1f}' for s, k in beside if s >= 0.5)
      + f' s; imports, orchestration and the report {rest:.1f} s'
    )
  if key == 'd':
    evaluator = raw['pipeline'][-1]['components'].get('Evaluator', float('nan'))
    loop = raw['bare_eval'][-1]
    return (
      f"TFX's Evaluator (TFMA on Beam's DirectRunner) took {evaluator:.1f} s for "
      f"{loop['examples']:,} examples against the loop's {loop['seconds']:.1f} s: building, "
      'fusing and running its Beam pipeline costs about 2.3 s before any example is '
      'answered (docs/benchmarks.md: "Against the goals")'
    )
  return 'see the raw numbers'


def verdicts(rows: Sequence[Dict[str, Any]], raw: Dict[str, Any]) -> List[str]:
  """PASS per goal, or MISS with the number and the measured reason."""
  lines = []
  for r in rows:
    if not r.get('goal'):
      continue
    if meets(r['ratio'], r['goal']):
      lines.append(f'PASS {r["name"]}: {r["ratio"]:.2f}× (goal {r["goal"]})')
    else:
      lines.append(
        f'MISS {r["name"]}: {r["ratio"]:.2f}× (goal {r["goal"]}): {why_missed(r["key"], raw)}'
      )
  return lines


def machine_info(cpuinfo_text: Optional[str] = None) -> Dict[str, Any]:
  if cpuinfo_text is None:
    try:
      with open('/proc/cpuinfo') as f:
        cpuinfo_text = f.read()
    except OSError:
      cpuinfo_text = ''
  info = parse_cpuinfo(cpuinfo_text)
  info['os_cpu_count'] = os.cpu_count()
  try:
    info['usable_cpus'] = len(os.sched_getaffinity(0))
  except AttributeError:
    info['usable_cpus'] = os.cpu_count()
  return info


def load_average() -> List[float]:
  try:
    return [round(x, 2) for x in os.getloadavg()]
  except OSError:
    return []


def component_seconds(stdout: str) -> Dict[str, float]:
  spec = importlib.util.spec_from_file_location('full_run', os.path.join(HERE, 'full_run.py'))
  assert spec is not None and spec.loader is not None
  full_run = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(full_run)
  return full_run.component_seconds(stdout)


# ---------------------------------------------------------------- measurements


def log(message: str) -> None:
  print(f'[{time.strftime("%H:%M:%S")}] {message}', file=sys.stderr, flush=True)


# The bare side trains in float32 on the images as they are; so does the Trainer here (its defaults
# would add bfloat16 where the CPU has it, and augmentation): the same work on both sides.
SAME_WORK: Dict[str, Any] = {
  'precision': 'float32',
  'augment_rotation': 0.0,
  'augment_zoom': 0.0,
  'augment_shift': 0.0,
}


def same_work_flags() -> List[str]:
  return [
    arg for key, value in SAME_WORK.items() for arg in (f'--{key.replace("_", "-")}', str(value))
  ]


def run_pipeline(data_dir: str, output_dir: str, s: Dict[str, Any]) -> Dict[str, Any]:
  command = [
    sys.executable,
    'local_runner.py',
    '--no-cache',
    '--output-dir',
    output_dir,
    '--data-dir',
    data_dir,
    '--epochs',
    str(s['epochs']),
    '--accuracy-threshold',
    '0',
    '--label-drift-bound',
    '1',
    *same_work_flags(),
  ]
  if s['train_examples']:
    command += ['--train-examples', str(s['train_examples'])]
  if s['eval_examples']:
    command += ['--eval-examples', str(s['eval_examples'])]
  started = time.monotonic()
  proc = subprocess.run(
    command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
  )
  seconds = time.monotonic() - started
  if proc.returncode != 0:
    raise RuntimeError(f'the pipeline run exited {proc.returncode}:\n{proc.stdout[-4000:]}')
  match = re.search(r'Test accuracy:\s+([\d.]+)', proc.stdout)
  return {
    'seconds': seconds,
    'components': component_seconds(proc.stdout),
    'accuracy': float(match.group(1)) if match else float('nan'),
  }


def run_bare_script(data_dir: str, output_dir: str, s: Dict[str, Any]) -> Dict[str, Any]:
  command = [
    sys.executable,
    os.path.join(HERE, 'bare.py'),
    '--data-dir',
    data_dir,
    '--output-dir',
    output_dir,
    '--epochs',
    str(s['epochs']),
  ]
  if s['train_examples']:
    command += ['--train-examples', str(s['train_examples'])]
  if s['eval_examples']:
    command += ['--eval-examples', str(s['eval_examples'])]
  started = time.monotonic()
  proc = subprocess.run(
    command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
  )
  seconds = time.monotonic() - started
  if proc.returncode != 0:
    raise RuntimeError(f'benchmarks/bare.py exited {proc.returncode}:\n{proc.stderr[-4000:]}')
  result = json.loads(proc.stdout.strip().splitlines()[-1])
  result['seconds_wall'] = seconds
  return result


def bare_write_records(
  data_dir: str, out_dir: str, n: Optional[int], m: Optional[int]
) -> Dict[str, Any]:
  """IDX → GZIP TFRecords of the ExampleGen's own tf.Examples, one plain loop per split."""
  import tensorflow as tf

  from components.lib import idx
  from components.mnist_example_gen import to_example

  started = time.monotonic()
  written = 0
  for prefix, limit in (('train', n), ('t10k', m)):
    split = idx.load_split(data_dir, prefix)  # digests checked, as the ExampleGen does
    count = len(split.labels) if not limit else min(limit, len(split.labels))
    os.makedirs(out_dir, exist_ok=True)
    with tf.io.TFRecordWriter(os.path.join(out_dir, f'{prefix}.gz'), options='GZIP') as writer:
      for i in range(count):
        writer.write(to_example(split.images[i], split.labels[i]).SerializeToString())
    written += count
  return {'seconds': time.monotonic() - started, 'examples': written}


def bare_evaluate(model_dir: str, eval_files: List[str]) -> Dict[str, Any]:
  """Loads the SavedModel and runs `serving_default` over the eval records: accuracy, seconds."""
  import tensorflow as tf

  from trainer_module.features import LABEL_KEY

  started = time.monotonic()
  serve = tf.saved_model.load(model_dir).signatures['serving_default']
  correct = total = 0
  for batch in tf.data.TFRecordDataset(eval_files, compression_type='GZIP').batch(1000):
    labels = tf.io.parse_example(batch, {LABEL_KEY: tf.io.FixedLenFeature([], tf.int64)})[LABEL_KEY]
    classes = serve(examples=batch)['classes']
    correct += int(tf.reduce_sum(tf.cast(tf.equal(classes, labels), tf.int64)))
    total += int(labels.shape[0])
  return {
    'seconds': time.monotonic() - started,
    'examples': total,
    'accuracy': correct / max(total, 1),
  }


class EpochClock:
  """Times epochs 2..k: the wall from the end of epoch 1 to the end of the last (boundaries
  included), so the first epoch's tracing and warm-up are left out."""

  def __init__(self) -> None:
    self.ends: List[float] = []

  def callback(self):
    import keras

    clock = self

    class _Clock(keras.callbacks.Callback):
      def on_epoch_end(self, epoch, logs=None):
        clock.ends.append(time.monotonic())

    return _Clock()

  def steady_examples_per_s(self, examples_per_epoch: int) -> float:
    if len(self.ends) < 2:
      raise ValueError('steady speed needs at least 2 epochs')
    return (len(self.ends) - 1) * examples_per_epoch / (self.ends[-1] - self.ends[0])


@contextlib.contextmanager
def fit_with(callback):
  """keras.Model.fit with one more callback, for code that builds its own list (the Trainer)."""
  import keras

  original = keras.Model.fit

  def fit(self, *args, callbacks=None, **kwargs):
    return original(self, *args, callbacks=list(callbacks or []) + [callback], **kwargs)

  keras.Model.fit = fit
  try:
    yield
  finally:
    keras.Model.fit = original


def trainer_steady(train_files: List[str], model_run_dir: str, s: Dict[str, Any]) -> Dict[str, Any]:
  import keras

  from trainer_module import data, task
  from trainer_module.config import TrainingConfig

  keras.backend.clear_session()
  keras.utils.set_random_seed(1)
  config = TrainingConfig(
    epochs=s['fit_epochs'], batch_size=s['batch_size'], validation_examples=0, seed=1, **SAME_WORK
  )
  clock = EpochClock()
  with fit_with(clock.callback()):
    task.train(config, train_files, model_run_dir, verbose=0)
  n = data.count_records(train_files)
  return {
    'examples_per_s': clock.steady_examples_per_s(n),
    'examples': n,
    'epoch_ends': [round(t - clock.ends[0], 2) for t in clock.ends],
  }


def bare_fit_steady(images, labels, s: Dict[str, Any]) -> Dict[str, Any]:
  import keras

  from trainer_module.config import TrainingConfig
  from trainer_module.model import build_model

  keras.backend.clear_session()
  keras.utils.set_random_seed(1)
  config = TrainingConfig(epochs=s['fit_epochs'], batch_size=s['batch_size'])
  steps = -(-len(labels) // s['batch_size'])
  model = build_model()
  model.compile(
    optimizer=keras.optimizers.Adam(
      keras.optimizers.schedules.CosineDecay(
        config.learning_rate, config.epochs * steps, alpha=config.final_learning_rate_fraction
      )
    ),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=[keras.metrics.SparseCategoricalAccuracy(name='accuracy')],
  )
  clock = EpochClock()
  model.fit(
    images,
    labels,
    batch_size=s['batch_size'],
    epochs=config.epochs,
    shuffle=True,
    verbose=0,
    callbacks=[clock.callback()],
  )
  return {
    'examples_per_s': clock.steady_examples_per_s(len(labels)),
    'model': model,
    'epoch_ends': [round(t - clock.ends[0], 2) for t in clock.ends],
  }


def matmul_gflops(n: int, calls: int = 5) -> float:
  """The best a TF float32 matmul of n×n by n×n does here: 2n³ FLOPs per call, median call time."""
  import tensorflow as tf

  a = tf.random.stateless_uniform([n, n], seed=[1, 2])
  b = tf.random.stateless_uniform([n, n], seed=[3, 4])
  matmul = tf.function(tf.linalg.matmul)
  matmul(a, b).numpy()  # trace and warm
  times = []
  for _ in range(calls):
    started = time.perf_counter()
    matmul(a, b).numpy()
    times.append(time.perf_counter() - started)
  return 2 * n**3 / median(times) / 1e9


# ---------------------------------------------------------------- the run


def measure(data_dir: str, work: str, s: Dict[str, Any]) -> Dict[str, Any]:
  import numpy as np

  sys.path.insert(0, REPO)
  from components.lib import idx
  from components.serving_probe import time_calls

  raw: Dict[str, Any] = {
    k: []
    for k in (
      'pipeline',
      'bare_script',
      'bare_writer',
      'bare_eval',
      'trainer',
      'bare_fit',
      'matmul',
    )
  }

  # b, c, d: a pipeline run, then the bare script, the bare writer and the bare evaluation.
  first_output = None
  for r in range(s['repeats']):
    output_dir = os.path.join(work, f'pipeline-{r}')
    log(f'repeat {r + 1}/{s["repeats"]}: pipeline (local_runner.py --no-cache)')
    raw['pipeline'].append(run_pipeline(data_dir, output_dir, s))
    first_output = first_output or output_dir
    log(f'repeat {r + 1}/{s["repeats"]}: bare script')
    raw['bare_script'].append(run_bare_script(data_dir, os.path.join(work, f'bare-{r}'), s))
    log(f'repeat {r + 1}/{s["repeats"]}: bare TFRecordWriter loop')
    raw['bare_writer'].append(
      bare_write_records(
        data_dir, os.path.join(work, f'records-{r}'), s['train_examples'], s['eval_examples']
      )
    )
    model_dir = sorted(
      glob.glob(
        os.path.join(output_dir, 'pipeline_root', 'Trainer', 'model', '*', 'Format-Serving')
      )
    )[-1]
    eval_files = sorted(
      glob.glob(
        os.path.join(
          output_dir, 'pipeline_root', 'MnistExampleGen', 'examples', '*', 'Split-eval', '*'
        )
      )
    )
    log(f'repeat {r + 1}/{s["repeats"]}: bare serving_default loop')
    raw['bare_eval'].append(bare_evaluate(model_dir, eval_files))

  # a, f: the Trainer's train() on the first run's TFRecords, bare keras.fit, the matmul ceiling.
  assert first_output is not None, 'needs at least one repeat'
  train_files = sorted(
    glob.glob(
      os.path.join(
        first_output, 'pipeline_root', 'MnistExampleGen', 'examples', '*', 'Split-train', '*'
      )
    )
  )
  train = idx.load_split(data_dir, 'train')
  n = len(train.labels) if not s['train_examples'] else min(s['train_examples'], len(train.labels))
  images = (train.images[:n] / 255.0).astype(np.float32)
  labels = train.labels[:n].astype(np.int64)
  model = None
  for r in range(s['repeats']):
    log(f'repeat {r + 1}/{s["repeats"]}: Trainer train(), {s["fit_epochs"]} epochs')
    raw['trainer'].append(trainer_steady(train_files, os.path.join(work, f'model_run-{r}'), s))
    log(f'repeat {r + 1}/{s["repeats"]}: bare keras.fit, {s["fit_epochs"]} epochs')
    fitted = bare_fit_steady(images, labels, s)
    model = fitted.pop('model')
    raw['bare_fit'].append(fitted)
    log(f'repeat {r + 1}/{s["repeats"]}: matmul {s["matmul_n"]}²')
    raw['matmul'].append(matmul_gflops(s['matmul_n']))

  # e: the last bare-fit model, exported as the Trainer exports it, vs the same Keras model.
  assert model is not None, 'needs at least one repeat'
  import tensorflow as tf

  from trainer_module import export

  log('classify vs predict_on_batch')
  export_dir = os.path.join(work, 'serving_model')
  export.export_serving_model(model, export_dir)
  classify = tf.saved_model.load(export_dir).signatures['classify']
  test = idx.load_split(data_dir, 't10k')
  batch = (test.images[:1000] / 255.0).astype(np.float32)
  batch_t, one_t = tf.constant(batch), tf.constant(batch[:1])
  one = batch[:1]
  serving: Dict[str, List[float]] = {
    'classify_1000': [],
    'predict_1000': [],
    'classify_1': [],
    'predict_1': [],
  }
  for _ in range(s['repeats']):
    serving['classify_1000'].append(
      median(time_calls(lambda: classify(image=batch_t)['classes'].numpy(), 10))
    )
    serving['predict_1000'].append(median(time_calls(lambda: model.predict_on_batch(batch), 10)))
  for _ in range(2):  # single images, interleaved in halves
    serving['classify_1'] += time_calls(
      lambda: classify(image=one_t)['classes'].numpy(), s['single_calls'] // 2
    )
    serving['predict_1'] += time_calls(lambda: model.predict_on_batch(one), s['single_calls'] // 2)
  raw['serving'] = serving
  return raw


def build_rows(raw: Dict[str, Any], flops_per_example: int) -> List[Dict[str, Any]]:
  pipe, bare = raw['pipeline'], raw['bare_script']
  examples_gen = [w['examples'] for w in raw['bare_writer']]
  eval_n = [e['examples'] for e in raw['bare_eval']]
  trainer = [t['examples_per_s'] for t in raw['trainer']]
  bare_fit = [t['examples_per_s'] for t in raw['bare_fit']]
  sv = raw['serving']
  rows = [
    make_row(
      'a',
      'a. Trainer ÷ bare keras.fit',
      'examples/s, steady',
      'Trainer',
      'keras.fit',
      trainer,
      bare_fit,
      raw={
        'Trainer epoch ends, last run (s after epoch 1)': raw['trainer'][-1]['epoch_ends'],
        'keras.fit epoch ends, last run': raw['bare_fit'][-1]['epoch_ends'],
      },
    ),
    make_row(
      'b',
      'b. pipeline ÷ bare script',
      's wall',
      'pipeline',
      'bare',
      [p['seconds'] for p in pipe],
      [b['seconds_wall'] for b in bare],
      goal='≤ 1.15',
      raw={
        'pipeline test accuracy': [p['accuracy'] for p in pipe],
        'bare test accuracy': [b['accuracy'] for b in bare],
        'bare script, last run: import, read, train, evaluate, export s': [
          bare[-1]['seconds'][k] for k in ('import', 'read', 'train', 'evaluate', 'export')
        ],
        f'pipeline, last run: {", ".join(PIPELINE_PARTS)} s': [
          pipe[-1]['components'].get(k, float('nan')) for k in PIPELINE_PARTS
        ],
      },
    ),
    make_row(
      'c',
      'c. ExampleGen ÷ bare TFRecordWriter',
      'examples/s',
      'ExampleGen',
      'writer',
      [
        n / p['components'].get('MnistExampleGen', float('nan'))
        for n, p in zip(examples_gen, pipe, strict=True)
      ],
      [w['examples'] / w['seconds'] for w in raw['bare_writer']],
      goal='≥ 0.5',
      raw={
        'ExampleGen s': [p['components'].get('MnistExampleGen', float('nan')) for p in pipe],
        'writer s': [w['seconds'] for w in raw['bare_writer']],
      },
    ),
    make_row(
      'd',
      'd. Evaluator ÷ bare serving_default loop',
      'examples/s',
      'Evaluator',
      'loop',
      [
        n / p['components'].get('Evaluator', float('nan'))
        for n, p in zip(eval_n, pipe, strict=True)
      ],
      [e['examples'] / e['seconds'] for e in raw['bare_eval']],
      goal='≥ 0.5',
      raw={
        'Evaluator s': [p['components'].get('Evaluator', float('nan')) for p in pipe],
        'loop s (load included)': [e['seconds'] for e in raw['bare_eval']],
        'loop accuracy': [e['accuracy'] for e in raw['bare_eval']],
      },
    ),
    make_row(
      'e1',
      'e. classify ÷ predict_on_batch, batch 1000',
      'examples/s',
      'classify',
      'predict_on_batch',
      [1000 / t for t in sv['classify_1000']],
      [1000 / t for t in sv['predict_1000']],
    ),
    make_row(
      'e2',
      'e. classify ÷ predict_on_batch, 1 image p50',
      'ms',
      'classify',
      'predict_on_batch',
      [1000 * median(sv['classify_1'])],
      [1000 * median(sv['predict_1'])],
      raw={
        'classify 1 image p50, p99 ms': [
          1000 * percentile(sv['classify_1'], 50),
          1000 * percentile(sv['classify_1'], 99),
        ],
        'predict_on_batch 1 image p50, p99 ms': [
          1000 * percentile(sv['predict_1'], 50),
          1000 * percentile(sv['predict_1'], 99),
        ],
      },
    ),
    make_row(
      'f',
      'f. Trainer training ÷ matmul ceiling',
      'GFLOP/s',
      'training',
      'matmul',
      [x * flops_per_example / 1e9 for x in trainer],
      raw['matmul'],
      raw={
        'training FLOPs per example (analytic)': flops_per_example,
        'keras.fit GFLOP/s': [x * flops_per_example / 1e9 for x in bare_fit],
      },
    ),
  ]
  return rows


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--quick', action='store_true', help='small subsets, for CI-like checks')
  parser.add_argument('--data-dir', help='default: $MNIST_DATA_DIR, else the download cache')
  parser.add_argument('--json', metavar='FILE', help='also write every number here')
  parser.add_argument('--train-examples', type=int)
  parser.add_argument('--eval-examples', type=int)
  parser.add_argument('--epochs', type=int, help='pipeline and bare-script epochs')
  parser.add_argument(
    '--fit-epochs', type=int, help='epochs of the Trainer / keras.fit ratio (>= 2)'
  )
  parser.add_argument('--repeats', type=int)
  parser.add_argument('--batch-size', type=int, default=128)
  parser.add_argument('--matmul-n', type=int)
  parser.add_argument(
    '--keep', metavar='DIR', help='work here and keep it (default: a temp dir, removed)'
  )
  args = parser.parse_args(argv)
  s: Dict[str, Any] = dict(QUICK if args.quick else FULL)
  for key in ('train_examples', 'eval_examples', 'epochs', 'fit_epochs', 'repeats', 'matmul_n'):
    if getattr(args, key) is not None:
      s[key] = getattr(args, key)
  s['batch_size'] = args.batch_size
  if s['fit_epochs'] < 2:
    parser.error('--fit-epochs must be >= 2 (epoch 1 is warm-up, not timed)')

  sys.path.insert(0, REPO)
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  from pipeline.local.errors import RunError
  from pipeline.local.preflight import find_data

  try:
    data_dir = find_data(args.data_dir)
  except RunError as e:
    print(e, file=sys.stderr)
    return 1

  import tensorflow as tf

  from trainer_module.model import build_model

  flops = training_flops_per_example(describe_model(build_model()))
  machine = machine_info()
  machine['tensorflow'] = tf.__version__
  machine['load_before'] = load_average()
  started = time.monotonic()
  work = args.keep or tempfile.mkdtemp(prefix='mnist-ratios-')
  try:
    raw = measure(data_dir, work, s)
  finally:
    if not args.keep:
      shutil.rmtree(work, ignore_errors=True)
  machine['load_after'] = load_average()
  rows = build_rows(raw, flops)

  mode = 'quick' if args.quick else 'full'
  print(
    f'Ratio benchmark ({mode} mode): train {s["train_examples"] or "all"}, eval '
    f'{s["eval_examples"] or "all"}, pipeline/bare {s["epochs"]} epoch(s), Trainer/fit '
    f'{s["fit_epochs"]} epochs (epochs 2..{s["fit_epochs"]} timed), batch {s["batch_size"]}, '
    f'{s["repeats"]} repeat(s) interleaved, {time.monotonic() - started:.0f} s'
  )
  print(
    f'Machine: {machine["cpu_model"]}; {machine["logical_cpus"]} logical CPUs '
    f'({machine["usable_cpus"]} usable); flags: {" ".join(machine["flags"]) or "none of interest"}'
    f' (absent: {" ".join(machine["flags_absent"]) or "none"}); TF {machine["tensorflow"]}; '
    f'load average {machine["load_before"]} before, {machine["load_after"]} after'
  )
  print(format_table(rows))
  print(
    'A ÷ B is of the medians. examples/s, GFLOP/s: above 1 = A faster. s wall, ms: below 1 = A '
    'faster.'
  )
  print('\n'.join(verdicts(rows, raw)))
  if args.json:
    serving = raw.pop('serving')
    raw['serving_seconds'] = serving
    with open(args.json, 'w') as f:
      json.dump(
        {
          'mode': mode,
          'settings': s,
          'machine': machine,
          'training_flops_per_example': flops,
          'rows': rows,
          'raw': raw,
        },
        f,
        indent=1,
        default=str,
      )
  return 0


if __name__ == '__main__':
  sys.exit(main())
