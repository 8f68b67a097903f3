"""Where this project's code lives, and how a process it starts finds that code.

The packages (trainer_module, components, pipeline, …) sit side by side in the project dir.
Child processes import them by name from any working directory: Beam's multi-processing
workers unpickle the ExampleGen's transforms by module name, the ServingCheck's probe is
`python -m components.serving_probe`."""

import os
from typing import Dict, Mapping, MutableMapping

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def with_project_on_path(environ: Mapping[str, str]) -> Dict[str, str]:
  """A copy of `environ` whose PYTHONPATH starts with the project dir (once)."""
  env = dict(environ)
  put_project_on_path(env)
  return env


def put_project_on_path(environ: MutableMapping[str, str]) -> None:
  """Puts the project dir first on environ's PYTHONPATH, unless it is already there."""
  paths = [p for p in environ.get('PYTHONPATH', '').split(os.pathsep) if p]
  if PROJECT_ROOT not in paths:
    environ['PYTHONPATH'] = os.pathsep.join([PROJECT_ROOT, *paths])
