"""Trains Trainer variants side by side on the same data and seeds; prints test accuracy and speed.

    python benchmarks/training_loops.py --data-dir DIR [--epochs 2] [--train-examples N]
        [--variants fit/float32,custom/float32] [--repeats 1] [--seed 1] [--config JSON]

Each variant is LOOP/PRECISION (`fit` or `custom`; `float32`, `mixed_bfloat16`, ...). Runs are
interleaved (A B A B ...), each in a fresh Keras session, repeat r with seed --seed + r, on the same
TFRecords (MNIST's train split, written once, as the ExampleGen writes them), with the Trainer's
own `train` (its validation split held out). Test accuracy is on MNIST's 10k test set.
One JSON line per run: variant, seconds, training examples/s (all epochs, tracing included),
history and test accuracy.
"""

import argparse
import json
import os
import sys
import tempfile
import time

import keras
import numpy as np

from components.lib import idx
from components.mnist_example_gen import write_records
from trainer_module import data, task
from trainer_module.config import TrainingConfig


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--data-dir', default=os.environ.get('MNIST_DATA_DIR'), required=False)
  parser.add_argument('--epochs', type=int, default=2)
  parser.add_argument('--batch-size', type=int, default=128)
  parser.add_argument('--train-examples', type=int)
  parser.add_argument('--validation-examples', type=int)
  parser.add_argument('--variants', default='fit/float32,custom/float32')
  parser.add_argument('--repeats', type=int, default=1)
  parser.add_argument('--seed', type=int, default=1)
  parser.add_argument(
    '--config',
    default='{}',
    metavar='JSON',
    help='further TrainingConfig fields for every variant, e.g. \'{"augment_rotation": 10}\'',
  )
  args = parser.parse_args(argv)
  if not args.data_dir:
    parser.error('--data-dir (or $MNIST_DATA_DIR) is needed')

  work = tempfile.mkdtemp(prefix='mnist-compare-')
  records = write_records(
    args.data_dir, os.path.join(work, 'train', 'data.gz'), count=args.train_examples
  )
  total = data.count_records(records)
  test = idx.load_split(args.data_dir, 't10k')
  test_images = (test.images / 255.0).astype(np.float32)
  variants = [v.split('/') for v in args.variants.split(',')]
  extra = json.loads(args.config)
  for repeat in range(args.repeats):
    for loop, precision in variants:
      keras.backend.clear_session()
      config = TrainingConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        training_loop=loop,
        precision=precision,
        seed=args.seed + repeat,
        validation_examples=args.validation_examples,
        **extra,
      )
      started = time.monotonic()
      model, history, _ = task.train(config, records, None, verbose=0)
      seconds = time.monotonic() - started
      trained = total - config.validation_split(total)
      logits = model.predict(test_images, batch_size=1000, verbose=0)
      accuracy = float(np.mean(np.argmax(logits, axis=1) == test.labels))
      print(
        json.dumps(
          {
            'variant': f'{loop}/{precision}',
            'repeat': repeat,
            'seconds': round(seconds, 1),
            'examples_per_s': round(args.epochs * trained / seconds),
            'test_accuracy': accuracy,
            'history': history,
          }
        ),
        flush=True,
      )
  return 0


if __name__ == '__main__':
  sys.exit(main())
