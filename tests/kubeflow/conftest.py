"""Compiles the pipeline once per test module, as `python -m kubeflow compile` does."""
import os
import subprocess
import sys

import pytest
import yaml

from tests.conftest import REPO

IMAGE = 'registry.example.com/mnist:dev'


def run_cli(*args, timeout=300, cwd=REPO):
  return subprocess.run([sys.executable, '-m', 'kubeflow', *args], cwd=cwd, capture_output=True,
                        text=True, timeout=timeout, env=dict(os.environ, PYTHONPATH=REPO))


def compile_to(folder, *extra):
  output = os.path.join(folder, 'build', 'pipeline.yaml')
  proc = run_cli('compile', '--output', output, '--image', IMAGE, *extra)
  assert proc.returncode == 0, proc.stdout + proc.stderr
  with open(output) as f:
    return output, yaml.safe_load(f)


@pytest.fixture(scope='session')
def compiled(tmp_path_factory):
  """The issue's acceptance command, run with no network access needed."""
  folder = str(tmp_path_factory.mktemp('kfp'))
  return compile_to(folder, '--pipeline-root', 'gs://bucket/root')
