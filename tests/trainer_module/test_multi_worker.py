"""--strategy multi_worker for real: two worker processes on loopback, each with its TF_CONFIG,
train the Trainer (train + save_outputs, what run_fn does) with MultiWorkerMirroredStrategy on
real MNIST examples, with the custom training loop (Keras 3's Model.fit fails under this strategy,
keras-team/keras#20585, so the config refuses that pair). Both must end with the same weights;
only the chief writes the SavedModel, history.json and TensorBoard logs, into the folders both
were given (as a TFX Trainer on a TFJob or Vertex custom job gives every replica the same
fn_args)."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from components.mnist_example_gen import write_records
from tests.conftest import REPO

WORKER = textwrap.dedent("""
    import json, sys
    import keras
    import numpy as np
    from trainer_module import task
    from trainer_module.config import TrainingConfig
    records, serving_dir, run_dir, weights_out, seed = sys.argv[1:]
    # The Trainer seeds Keras with config.seed (same on every worker, so every worker shuffles and
    # augments alike); offset it per worker so each starts from its own random weights: the
    # strategy must bring them together.
    seed_keras = keras.utils.set_random_seed
    keras.utils.set_random_seed = lambda value: seed_keras(value + 1000 * int(seed))
    # float32, so the export can be checked against the weights to 1e-5 (bfloat16 exports are
    # checked in test_precision.py); augmentation as by default.
    config = TrainingConfig(epochs=1, batch_size=64, strategy='multi_worker',
                            training_loop='custom', validation_examples=250, seed=7,
                            precision='float32')
    model, history, strategy = task.train(config, records, run_dir, verbose=0)
    np.savez(weights_out, *model.get_weights())
    task.save_outputs(model, history, strategy, serving_dir, run_dir)
    print('HISTORY', json.dumps(history), flush=True)
""")


def _free_ports(n):
  sockets = [socket.socket() for _ in range(n)]
  for s in sockets:
    s.bind(('127.0.0.1', 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


@pytest.fixture(scope='module')
def records(tmp_path_factory, mnist_dir):
  """1,280 real training examples: 1,030 to train on, 250 to validate. Neither is a whole number
  of global batches of 64: the last batches (6 and 58 examples) are split unevenly over the two
  workers, which must still agree on where each epoch ends."""
  return write_records(
    mnist_dir, str(tmp_path_factory.mktemp('mw') / 'train' / 'data.gz'), count=1280
  )


@pytest.mark.slow  # two child processes that import TensorFlow and train (about a minute)
def test_two_workers_train_to_the_same_weights_and_the_chief_exports(tmp_path, records, mnist_dir):
  workers = [f'127.0.0.1:{port}' for port in _free_ports(2)]
  serving_dir, run_dir = tmp_path / 'serving', tmp_path / 'model_run'
  procs, logs = [], []
  for index in range(2):
    env = dict(
      os.environ,
      PYTHONPATH=REPO,
      CUDA_VISIBLE_DEVICES='',
      TF_CPP_MIN_LOG_LEVEL='2',
      TF_CONFIG=json.dumps(
        {'cluster': {'worker': workers}, 'task': {'type': 'worker', 'index': index}}
      ),
    )
    log = open(tmp_path / f'worker{index}.log', 'wb')
    logs.append(log)
    procs.append(
      subprocess.Popen(
        [
          sys.executable,
          '-c',
          WORKER,
          records,
          str(serving_dir),
          str(run_dir),
          str(tmp_path / f'weights{index}.npz'),
          str(index),
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
      )
    )
  try:
    codes = [p.wait(timeout=420) for p in procs]
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
        p.wait()
    for log in logs:
      log.close()
  outputs = [(tmp_path / f'worker{i}.log').read_text(errors='replace') for i in range(2)]
  assert codes == [0, 0], '\n\n'.join(f'worker {i}:\n{o[-3000:]}' for i, o in enumerate(outputs))

  # The same weights on both workers, though each started from its own random seed.
  weights = [np.load(tmp_path / f'weights{i}.npz') for i in range(2)]
  assert len(weights[0].files) == 8
  for name in weights[0].files:
    np.testing.assert_allclose(weights[0][name], weights[1][name], rtol=0, atol=1e-6)
  # Each worker saw half of every global batch, both the same epoch totals.
  histories = [json.loads(o.split('HISTORY ', 1)[1].splitlines()[0]) for o in outputs]
  assert histories[0] == pytest.approx(histories[1])
  assert set(histories[0]) == {'loss', 'accuracy', 'val_loss', 'val_accuracy'}
  assert histories[0]['val_accuracy'][0] > 0.6  # learnt something in 17 steps

  # The chief (worker 0) wrote the outputs; worker 1 left nothing of its own there.
  assert sorted(os.listdir(serving_dir)) == [
    'assets',
    'assets.extra',
    'fingerprint.pb',
    'saved_model.pb',
    'variables',
  ]
  assert sorted(os.listdir(run_dir)) == ['history.json', 'train', 'validation']
  assert all(len(os.listdir(run_dir / sub)) == 1 for sub in ('train', 'validation'))
  assert json.loads((run_dir / 'history.json').read_text()) == pytest.approx(histories[0])

  # The export classifies as the trained weights do.
  import tensorflow as tf

  from components.lib import idx
  from trainer_module.model import build_model

  reference = build_model()
  reference.set_weights([weights[0][f'arr_{i}'] for i in range(len(weights[0].files))])
  images = (idx.load_split(mnist_dir, 't10k').images[:200] / 255.0).astype(np.float32)
  answer = tf.saved_model.load(str(serving_dir)).signatures['classify'](image=tf.constant(images))
  np.testing.assert_allclose(
    answer['probabilities'], tf.nn.softmax(reference(images, training=False)), atol=1e-5
  )
