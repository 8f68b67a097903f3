"""The mnist-tfx console script (pyproject.toml) as scripts/install.sh installs it — `pip install
--no-deps -e .` — into a fresh venv that sees this venv's packages, then run from a directory
that is not the project's: every subcommand starts, and `inspect` reads a store."""

import os
import site
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow  # a venv and a pip install: seconds, and it starts TF-free CLIs


@pytest.fixture(scope='module')
def console_script(tmp_path_factory):
  venv = tmp_path_factory.mktemp('venv')
  base = getattr(sys, '_base_executable', sys.executable)
  subprocess.run([base, '-m', 'venv', str(venv)], check=True, timeout=300)
  packages = [p for p in site.getsitepackages() if p.startswith(sys.prefix)]
  [target] = [
    p
    for p in subprocess.run(
      [str(venv / 'bin' / 'python'), '-c', 'import site; print(site.getsitepackages()[0])'],
      capture_output=True,
      text=True,
      check=True,
    ).stdout.split()
  ]
  with open(os.path.join(target, 'project-venv.pth'), 'w') as f:
    f.write('\n'.join(packages) + '\n')
  proc = subprocess.run(
    [
      str(venv / 'bin' / 'python'),
      '-m',
      'pip',
      'install',
      '-q',
      '--no-deps',
      '--no-build-isolation',
      '--disable-pip-version-check',
      '-e',
      REPO,
    ],
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert proc.returncode == 0, proc.stdout + proc.stderr
  return str(venv / 'bin' / 'mnist-tfx')


def _run(script, *args, cwd):
  env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
  return subprocess.run(
    [script, *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env
  )


def test_every_subcommand_starts_from_any_directory(console_script, tmp_path):
  for command, usage in (
    ('run', 'usage: mnist-tfx'),
    ('inspect', 'usage: mnist-tfx inspect'),
    ('predict', 'usage: '),
    ('kubeflow', 'usage: '),
  ):
    proc = _run(console_script, command, '--help', cwd=str(tmp_path))
    assert proc.returncode == 0 and proc.stdout.startswith(usage), command + proc.stderr
  none = _run(console_script, cwd=str(tmp_path))
  assert none.returncode == 2 and 'mnist-tfx {run,inspect,predict,kubeflow}' in none.stdout


def test_inspect_reads_a_store_from_elsewhere(console_script, recorded, tmp_path):
  output_dir, _ = recorded
  proc = _run(console_script, 'inspect', 'runs', '--output-dir', output_dir, cwd=str(tmp_path))
  assert (
    proc.returncode == 0 and proc.stdout.startswith('RUN ') and len(proc.stdout.splitlines()) == 3
  ), proc.stderr
