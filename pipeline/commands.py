"""The project's commands as a person types them: the one program name, how to start each tool
from any directory (the run summary prints such commands), and the exit codes every tool shares.
Nothing here imports a tool: printing a command must not load it."""

import enum
import os
import sys
from typing import Optional

from components.lib.project import PROJECT_ROOT

PROG = 'mnist-tfx'
# Each subcommand is also a Python entry point, started from the project dir.
MODULE_FORMS = {
  'run': 'local_runner.py',
  'inspect': '-m inspection',
  'predict': '-m predict',
  'kubeflow': '-m kubeflow',
}


class ExitCode(enum.IntEnum):
  """What every command returns to the shell."""

  OK = 0  # done; for a run: blessed and pushed, or already served
  FAILED = 1  # bad or missing input, an error, the output dir in use: one line on stderr says why
  USAGE = 2  # a bad command line
  NOT_PUSHED = 3  # a run that completed, but whose model was not blessed or not servable


def command(name: str, python: Optional[str] = None) -> str:
  """How to start subcommand `name` from any directory, as a shell command: the console script
  when installed beside this Python, else the `python` form from the project root."""
  python = os.path.abspath(python or sys.executable)
  script = os.path.join(os.path.dirname(python), PROG)
  if os.path.exists(script):
    return f'{script} {name}'
  form = MODULE_FORMS[name]
  if form.endswith('.py'):
    return f'{python} {os.path.join(PROJECT_ROOT, form)}'
  return f'cd {PROJECT_ROOT} && {python} {form}'
