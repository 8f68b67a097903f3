"""The component image, checked statically (no Docker engine runs here): it installs the
lock, and it carries every project package that the compiled executors and run_fn import."""
import os
import shlex
import shutil
import subprocess
import sys

from tests.conftest import REPO


def _instructions():
  with open(os.path.join(REPO, 'Dockerfile')) as f:
    text = f.read().replace('\\\n', ' ')
  result = []
  for line in text.splitlines():
    line = line.strip()
    if line and not line.startswith('#'):
      keyword, _, rest = line.partition(' ')
      result.append((keyword.upper(), rest.strip()))
  return result


def test_base_image_and_locked_install():
  instructions = _instructions()
  assert instructions[0][0] == 'FROM' and instructions[0][1].startswith('python:3.10')
  copies = [shlex.split(rest) for keyword, rest in instructions if keyword == 'COPY']
  assert ['requirements.in', 'requirements.lock', './'] in copies
  runs = ' '.join(rest for keyword, rest in instructions if keyword == 'RUN')
  assert '-r requirements.in -c requirements.lock' in runs and 'pip check' in runs
  entrypoint = [rest for keyword, rest in instructions if keyword == 'ENTRYPOINT'][0]
  assert 'tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor' in entrypoint


def test_image_carries_everything_the_compiled_executors_import(compiled, tmp_path):
  _, spec = compiled
  instructions = _instructions()
  workdir = [rest for keyword, rest in instructions if keyword == 'WORKDIR'][-1]
  envs = ' '.join(rest for keyword, rest in instructions if keyword == 'ENV')
  assert f'PYTHONPATH={workdir}' in envs
  # Lay out only what the Dockerfile copies, as the image's WORKDIR would hold it.
  image_dir = tmp_path / 'pipeline'
  image_dir.mkdir()
  for keyword, rest in instructions:
    if keyword == 'COPY':
      *sources, _ = shlex.split(rest)
      for source in sources:
        path = os.path.join(REPO, source.rstrip('/'))
        if os.path.isdir(path):
          shutil.copytree(path, image_dir / source.rstrip('/'))
  imports = []
  for executor in spec['deploymentSpec']['executors'].values():
    if 'container' in executor:
      args = executor['container']['args']
      imports.append(args[args.index('--executor_class_path') + 1])
  run_fn = spec['root']['dag']['tasks']['Trainer']['inputs']['parameters']['run_fn']
  imports.append(run_fn['runtimeValue']['constant'])
  check = ('import importlib, sys\n'
           f'assert {REPO!r} not in sys.path, sys.path\n'
           'for path in sys.argv[1:]:\n'
           '  module, name = path.rsplit(".", 1)\n'
           '  getattr(importlib.import_module(module), name)\n')
  elsewhere = tmp_path / 'elsewhere'
  elsewhere.mkdir()
  proc = subprocess.run([sys.executable, '-c', check, *imports], cwd=str(elsewhere),
                        env={'PATH': os.environ['PATH'], 'PYTHONPATH': str(image_dir),
                             'TF_CPP_MIN_LOG_LEVEL': '3', 'HOME': str(tmp_path)},
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
