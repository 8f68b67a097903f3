"""Every entry point, as a person pipes it (`… | head -1`): the reader goes away before the command
prints, and the command ends quietly, exit 0, no BrokenPipeError traceback. The console script's
dispatcher (mnist_tfx.main, what `mnist-tfx` runs) and each `python -m`/script form."""

import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO

CONSOLE = 'import sys, mnist_tfx; sys.exit(mnist_tfx.main())'


def _closed_pipe(argv):
  """(exit code, stderr) of `argv` whose stdout reader has gone before it writes."""
  child = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
  child.stdout.close()
  err = child.stderr.read().decode()
  return child.wait(timeout=300), err


@pytest.mark.parametrize(
  'argv',
  [
    [sys.executable, '-c', CONSOLE, '--help'],
    [sys.executable, '-c', CONSOLE, 'run', '--help'],
    [sys.executable, '-c', CONSOLE, 'inspect', '--help'],
    [sys.executable, '-c', CONSOLE, 'predict', '--help'],
    [sys.executable, 'local_runner.py', '--help'],
    [sys.executable, '-m', 'inspection', '--help'],
    [sys.executable, '-m', 'predict', '--help'],
    [sys.executable, '-m', 'kubeflow', '--help'],
    [sys.executable, '-c', CONSOLE, 'kubeflow', '--help'],
  ],
  ids=lambda argv: ' '.join(argv[2:] if argv[1] == '-c' else argv[1:]),
)
def test_every_entry_point_ends_quietly_on_a_closed_pipe(argv):
  code, err = _closed_pipe(argv)
  assert code == 0 and 'Traceback' not in err and err == '', err


def test_inspect_through_the_console_script(recorded):
  output_dir, _ = recorded
  code, err = _closed_pipe(
    [sys.executable, '-c', CONSOLE, 'inspect', '--output-dir', output_dir, 'runs']
  )
  assert code == 0 and err == '', err


@pytest.fixture(scope='module')
def model_and_many(tmp_path_factory):
  """An (untrained) exported model, and an .npy of many images: predict has much to print."""
  from trainer_module import export
  from trainer_module.model import build_model

  folder = tmp_path_factory.mktemp('predict')
  export.export_serving_model(build_model(), str(folder / 'serving' / '1'))
  np.save(folder / 'many.npy', np.zeros((600, 28, 28), np.uint8))
  return str(folder / 'serving' / '1'), str(folder / 'many.npy')


@pytest.mark.slow  # the children import TensorFlow
@pytest.mark.parametrize('form', ['console script', 'python -m predict'])
def test_predict_many_into_a_closed_pipe(model_and_many, form):
  """`mnist-tfx predict many.npy | head -1`: 600 answers for a reader that has gone."""
  model, many = model_and_many
  start = (
    [sys.executable, '-c', CONSOLE, 'predict']
    if form == 'console script'
    else [
      sys.executable,
      '-m',
      'predict',
    ]
  )
  code, err = _closed_pipe([*start, '--model', model, many])
  assert code == 0 and 'Traceback' not in err, err
  assert err == f'Model: {model} (version 1)\n'
