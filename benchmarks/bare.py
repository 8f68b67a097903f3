"""The bare end-to-end script the pipeline is measured against (benchmarks/ratios.py, ratio b).

The pipeline's work without TFX: read the IDX files (components.lib.idx), train the seed CNN
(trainer_module.model) with `keras.fit` on in-memory arrays, the same epochs, batch, learning-rate
schedule and split sizes as the Trainer (the last V training examples held out for per-epoch
validation, V as TrainingConfig.validation_split), evaluate on the first M test examples, export
with trainer_module.export. No data validation, no ML Metadata, no serving check, no report.

    .venv/bin/python benchmarks/bare.py --data-dir DIR --output-dir DIR [--epochs 2]
        [--train-examples N] [--eval-examples M] [--batch-size 128]

Prints one JSON line: accuracy and the seconds of each step.
"""

import argparse
import json
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None) -> int:
  started = time.monotonic()
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--data-dir', required=True)
  parser.add_argument('--output-dir', required=True)
  parser.add_argument('--epochs', type=int, default=2)
  parser.add_argument('--batch-size', type=int, default=128)
  parser.add_argument('--train-examples', type=int)
  parser.add_argument('--eval-examples', type=int)
  parser.add_argument('--seed', type=int, default=1)
  args = parser.parse_args(argv)
  sys.path.insert(0, REPO)

  import keras
  import numpy as np

  from components.lib import idx
  from trainer_module import export
  from trainer_module.config import TrainingConfig
  from trainer_module.model import build_model

  imported = time.monotonic()

  # The pipeline's ExampleGen checks the digests too: so does this (validated=False checks them).
  train = idx.load_split(args.data_dir, 'train')
  test = idx.load_split(args.data_dir, 't10k')
  n = len(train.labels) if not args.train_examples else min(args.train_examples, len(train.labels))
  m = len(test.labels) if not args.eval_examples else min(args.eval_examples, len(test.labels))
  images = (train.images[:n] / 255.0).astype(np.float32)
  labels = train.labels[:n].astype(np.int64)
  config = TrainingConfig(epochs=args.epochs, batch_size=args.batch_size)
  held_out = config.validation_split(n)
  fitted = n - held_out
  read = time.monotonic()

  keras.utils.set_random_seed(args.seed)
  model = build_model()
  steps_per_epoch = -(-fitted // args.batch_size)
  schedule = keras.optimizers.schedules.CosineDecay(
    config.learning_rate,
    max(1, config.epochs * steps_per_epoch),
    alpha=config.final_learning_rate_fraction,
  )
  model.compile(
    optimizer=keras.optimizers.Adam(schedule),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=[keras.metrics.SparseCategoricalAccuracy(name='accuracy')],
  )
  validation = (images[fitted:], labels[fitted:]) if held_out else None
  model.fit(
    images[:fitted],
    labels[:fitted],
    batch_size=args.batch_size,
    epochs=args.epochs,
    validation_data=validation,
    shuffle=True,
    verbose=0,
  )
  trained = time.monotonic()

  logits = model.predict((test.images[:m] / 255.0).astype(np.float32), batch_size=1000, verbose=0)
  accuracy = float(np.mean(np.argmax(logits, axis=1) == test.labels[:m]))
  evaluated = time.monotonic()

  export.export_serving_model(model, os.path.join(args.output_dir, 'serving_model'))
  exported = time.monotonic()
  print(
    json.dumps(
      {
        'accuracy': accuracy,
        'train_examples': fitted,
        'validation_examples': held_out,
        'eval_examples': m,
        'seconds': {
          'import': round(imported - started, 2),
          'read': round(read - imported, 2),
          'train': round(trained - read, 2),
          'evaluate': round(evaluated - trained, 2),
          'export': round(exported - evaluated, 2),
          'total_in_process': round(exported - started, 2),
        },
      }
    ),
    flush=True,
  )
  return 0


if __name__ == '__main__':
  sys.exit(main())
