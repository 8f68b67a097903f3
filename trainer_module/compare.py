"""Trains Trainer variants side by side on the same data and seeds; prints test accuracy and speed.

    python -m trainer_module.compare --data-dir DIR [--epochs 2] [--train-examples N]
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


def write_records(data_dir: str, path: str, prefix: str = 'train', start: int = 0,
                  count=None) -> str:
  """Examples [start, start + count) of one MNIST split, in order, as one GZIP TFRecord file."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from components import mnist_data  # pylint: disable=g-import-not-at-top
  from components.mnist_example_gen import _to_example  # pylint: disable=g-import-not-at-top
  split = mnist_data.load_split(data_dir, prefix)
  end = len(split.labels) if count is None else start + count
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with tf.io.TFRecordWriter(path, options='GZIP') as writer:
    for i in range(start, end):
      writer.write(_to_example(split.images[i], split.labels[i]).SerializeToString())
  return path


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
  parser.add_argument('--config', default='{}', metavar='JSON',
                      help='further TrainingConfig fields for every variant, e.g. '
                      '\'{"augment_rotation": 10}\'')
  args = parser.parse_args(argv)
  if not args.data_dir:
    parser.error('--data-dir (or $MNIST_DATA_DIR) is needed')

  import keras  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from components import mnist_data  # pylint: disable=g-import-not-at-top
  from trainer_module import data  # pylint: disable=g-import-not-at-top
  from trainer_module import task  # pylint: disable=g-import-not-at-top
  from trainer_module.config import TrainingConfig  # pylint: disable=g-import-not-at-top

  work = tempfile.mkdtemp(prefix='mnist-compare-')
  records = write_records(args.data_dir, os.path.join(work, 'train', 'data.gz'),
                          count=args.train_examples)
  total = data.count_records(records)
  test = mnist_data.load_split(args.data_dir, 't10k')
  test_images = (test.images / 255.0).astype(np.float32)
  variants = [v.split('/') for v in args.variants.split(',')]
  extra = json.loads(args.config)
  for repeat in range(args.repeats):
    for loop, precision in variants:
      keras.backend.clear_session()
      config = TrainingConfig(epochs=args.epochs, batch_size=args.batch_size, training_loop=loop,
                              precision=precision, seed=args.seed + repeat,
                              validation_examples=args.validation_examples, **extra)
      started = time.monotonic()
      model, history, _ = task.train(config, records, None, verbose=0)
      seconds = time.monotonic() - started
      trained = total - config.validation_split(total)
      logits = model.predict(test_images, batch_size=1000, verbose=0)
      accuracy = float(np.mean(np.argmax(logits, axis=1) == test.labels))
      print(json.dumps({'variant': f'{loop}/{precision}', 'repeat': repeat, 'seconds': round(seconds, 1),
                        'examples_per_s': round(args.epochs * trained / seconds),
                        'test_accuracy': accuracy, 'history': history}), flush=True)
  return 0


if __name__ == '__main__':
  sys.exit(main())
