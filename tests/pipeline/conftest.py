"""A small real run (two pipeline runs into one output dir) shared by the metadata tests."""
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO


def run_py(*args, env=None, timeout=900):
  return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True,
                        timeout=timeout, env=dict(os.environ, **(env or {})))


@pytest.fixture(scope='session')
def two_runs(tmp_path_factory, mnist_dir):
  """Run 1 is blessed and pushed; run 2 reuses its cache and is refused by the bound."""
  output_dir = str(tmp_path_factory.mktemp('metadata') / 'D')
  common = ['local_runner.py', '--data-dir', mnist_dir, '--output-dir', output_dir,
            '--train-examples', '3000', '--eval-examples', '1000', '--epochs', '2']
  first = run_py(*common, '--accuracy-threshold', '0.5')
  assert first.returncode == 0, first.stdout + first.stderr
  second = run_py(*common, '--accuracy-threshold', '0.9999')
  assert second.returncode == 3, second.stdout + second.stderr
  [version] = os.listdir(os.path.join(output_dir, 'serving'))
  return output_dir, version, first.stdout, second.stdout
