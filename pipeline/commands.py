"""How to start each of the project's tools from any directory, as a shell command: the
run summary prints these, so they must not depend on the working directory. Kept apart from
pipeline/cli.py so that printing a command imports none of the tools (the Kubeflow image has
no local_runner)."""
import os
import sys
from typing import Optional

PROG = 'mnist-tfx'
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULE_FORMS = {'run': 'local_runner.py', 'inspect': '-m inspection',
                'predict': '-m predict', 'kubeflow': '-m kubeflow'}


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
