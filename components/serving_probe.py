"""The ServingCheck's probe: a fresh process that uses a SavedModel as a model server would.

    python -m components.serving_probe MODEL_DIR 'EVAL_TFRECORDS_GLOB' RESULT.json
    python -m components.serving_probe --wait    # the same three, as one JSON list on stdin

It loads the model with tf.saved_model.load (signatures only, no Keras, no training code: what TF
Serving's loader sees), replays its TF Serving warmup requests, answers every eval example
through both `classify` and `serving_default`, checks that out-of-range pixels are refused, and
times single-image and batched `classify` calls. It decides nothing: it writes what it saw to
RESULT.json (and `classify`'s probabilities for the eval examples, with the labels they answer,
in the split's order, to eval_answers.npz beside it, which the run report reuses), and
components.serving_check judges. Runs in its own process so that nothing the pipeline's process
has loaded or cached (the Trainer's graph, the Evaluator's copy) can make a broken model look
healthy. With --wait it imports TensorFlow first and then waits for its work (the local runner
starts it while the Evaluator runs, to hide that import); it loads no model before then, so it is
as fresh to the model as a process started afterwards. End of input without work: exit 0.
"""

import json
import os
import sys
import time
from typing import Dict, List

import numpy as np
import tensorflow as tf

from components.lib.names import ANSWERS_FILE
from components.lib.object_storage import enable_for
from trainer_module import data, tf_serving

LATENCY_BATCH_SIZES = (1, 100, 1000)
LATENCY_CALLS = {1: 200, 100: 30, 1000: 10}  # timed calls per batch size, after WARMUP_CALLS
WARMUP_CALLS = 5
READ_BATCH = 1000  # eval examples answered per call
WAIT_FLAG = '--wait'


def percentile_ms(seconds: List[float], q: float) -> float:
  return float(np.percentile(np.asarray(seconds) * 1000.0, q))


def time_calls(fn, calls: int, warmup: int = WARMUP_CALLS) -> List[float]:
  """Seconds of each of `calls` calls of fn, after `warmup` untimed ones."""
  for _ in range(warmup):
    fn()
  spent = []
  for _ in range(calls):
    start = time.perf_counter()
    fn()
    spent.append(time.perf_counter() - start)
  return spent


def probe(model_dir: str, eval_glob: str) -> Dict:
  enable_for(model_dir)  # s3:// before TensorFlow's first access

  result: Dict = {'model_dir': model_dir}
  start = time.monotonic()
  loaded = tf.saved_model.load(model_dir)
  result['load_seconds'] = round(time.monotonic() - start, 3)
  result['signatures'] = sorted(loaded.signatures.keys())
  classify = loaded.signatures[tf_serving.CLASSIFY_SIGNATURE]
  serve = loaded.signatures[tf_serving.SERVING_SIGNATURE]

  # TF Serving runs every warmup request at load and refuses the version if one fails.
  replayed = 0
  for log in tf_serving.read_warmup_requests(model_dir):
    request = log.predict_log.request
    signature = loaded.signatures[request.model_spec.signature_name or tf_serving.SERVING_SIGNATURE]
    signature(
      **{name: tf.constant(tf.make_ndarray(tensor)) for name, tensor in request.inputs.items()}
    )
    replayed += 1
  result['warmup_requests'] = replayed

  files = sorted(
    tf.io.gfile.glob(eval_glob)
  )  # name order: the split's order, as every reader takes it
  if not files:
    raise FileNotFoundError(f'no eval examples match {eval_glob}')
  # Batch by batch: only the labels and `classify`'s probabilities (for eval_answers.npz) are kept,
  # 44 bytes an example; the images and the rest of the answers go with their batch.
  labels, probabilities = [], []
  first_images = None
  right_classify = right_served = disagreements = 0
  max_difference = max_sum_error = 0.0
  argmax = True
  for batch in tf.data.TFRecordDataset(files, compression_type='GZIP').batch(READ_BATCH):
    images, batch_labels = data.parse_examples(batch)
    by_image = classify(image=images)
    by_example = serve(examples=batch)
    batch_labels = batch_labels.numpy()
    classes, served = by_image['classes'].numpy(), by_example['classes'].numpy()
    batch_probabilities = by_image['probabilities'].numpy()
    right_classify += int(np.sum(classes == batch_labels))
    right_served += int(np.sum(served == batch_labels))
    disagreements += int(np.sum(classes != served))
    max_difference = max(
      max_difference,
      float(np.max(np.abs(batch_probabilities - by_example['probabilities'].numpy()))),
    )
    argmax = argmax and bool(np.all(classes == np.argmax(batch_probabilities, axis=1)))
    max_sum_error = max(max_sum_error, float(np.max(np.abs(batch_probabilities.sum(axis=1) - 1.0))))
    labels.append(batch_labels)
    probabilities.append(batch_probabilities.astype(np.float32))
    if first_images is None:
      first_images = images
  if first_images is None:
    raise ValueError(f'no eval examples in {eval_glob}')
  labels, probabilities = np.concatenate(labels), np.concatenate(probabilities)
  result['answers'] = {'labels': labels, 'probabilities': probabilities}  # main() saves them
  result.update(
    examples=int(labels.size),
    accuracy_classify=right_classify / labels.size,
    accuracy_serving_default=right_served / labels.size,
    disagreements=disagreements,
    max_probability_difference=max_difference,
    classes_are_argmax=argmax,
    max_probability_sum_error=max_sum_error,
  )

  # An honest model refuses what it cannot answer; a server passes the refusal on as an error.
  refused = []
  for name, bad in (
    ('0-255 pixels', first_images[:2] * 255.0),
    ('NaN pixels', tf.fill([1, 28, 28], float('nan'))),
  ):
    try:
      classify(image=bad)
    except tf.errors.InvalidArgumentError:
      refused.append(name)
  result['refused'] = refused
  result['not_refused'] = [n for n in ('0-255 pixels', 'NaN pixels') if n not in refused]

  latency = {}
  for size in LATENCY_BATCH_SIZES:
    images = tf.gather(first_images, np.arange(size) % first_images.shape[0])  # tiled if few
    spent = time_calls(
      lambda images=images: classify(image=images)['classes'].numpy(), LATENCY_CALLS[size]
    )
    latency[str(size)] = {
      'p50_ms': round(percentile_ms(spent, 50), 3),
      'p99_ms': round(percentile_ms(spent, 99), 3),
      'examples_per_second': round(size * len(spent) / sum(spent), 1),
      'calls': len(spent),
    }
  result['latency'] = latency
  return result


def wait_for_work(stdin) -> int:
  """Probes what stdin's first line (a JSON list) names; TensorFlow is imported already."""
  line = stdin.readline()
  if not line.strip():
    return 0
  return main(json.loads(line))


def main(argv: List[str]) -> int:
  if argv == [WAIT_FLAG]:
    return wait_for_work(sys.stdin)
  if len(argv) != 3:
    print(__doc__.splitlines()[2].strip(), file=sys.stderr)
    return 2
  model_dir, eval_glob, out = argv
  result = probe(model_dir, eval_glob)
  np.savez(
    os.path.join(os.path.dirname(os.path.abspath(out)), ANSWERS_FILE), **result.pop('answers')
  )
  with open(out, 'w') as f:
    json.dump(result, f, indent=1, sort_keys=True)
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
