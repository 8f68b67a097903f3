"""Two runs into one output dir, shared by the pipeline and metadata tests: `two_runs` makes them
for real (minutes), `recorded` copies a recording of them (seconds)."""
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.pipeline.metadata.make_fixture import FIXTURE_DIR, FIXTURE_ROOT, move_artifact_uris


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
  [version] = [name for name in os.listdir(os.path.join(output_dir, 'serving'))
               if name != 'models.config']
  return output_dir, version, first.stdout, second.stdout


@pytest.fixture
def recorded(tmp_path):
  """(output dir, read-only ML Metadata store) of the two recorded runs (make_fixture.py): run 1
  blessed and pushed with no baseline; run 2 reused run 1's Trainer, compared it with run 1's
  blessed model and was refused by the bound 0.9999."""
  from pipeline.config import LocalPaths
  from pipeline.metadata import store as store_lib
  output_dir = str(tmp_path / 'D')
  shutil.copytree(FIXTURE_DIR, output_dir)
  paths = LocalPaths.under(output_dir)
  move_artifact_uris(paths.metadata_path, FIXTURE_ROOT, output_dir)
  return output_dir, store_lib.open_store(store_lib.sqlite_config(paths.metadata_path, read_only=True))
