"""mnist-tfx: one command for the project's tools, installed into the venv's bin/ from
pyproject.toml (`pip install --no-deps -e .`, done by scripts/install.sh), so that each works from
any working directory. The `python -m …` forms stay; each subcommand is exactly one of them:

  mnist-tfx run …        python local_runner.py …         run the pipeline on this machine
  mnist-tfx inspect …    python -m inspection …    runs, compare, lineage, reports
  mnist-tfx predict …    python -m predict …     classify pictures with a pushed model
  mnist-tfx kubeflow …   python -m kubeflow …             compile / upload for Kubeflow or Vertex
"""
import sys
from typing import List, Optional

from pipeline.commands import PROG, PROJECT_ROOT


def _run(argv):
  import local_runner
  return local_runner.main(argv, prog=f'{PROG} run')


def _inspect(argv):
  from inspection import cli as metadata
  return metadata.main(argv, prog=f'{PROG} inspect')


def _predict(argv):
  from predict import cli
  return cli.main(argv, prog=f'{PROG} predict')


def _kubeflow(argv):
  from kubeflow import __main__ as kubeflow
  return kubeflow.main(argv)


COMMANDS = {'run': _run, 'inspect': _inspect, 'predict': _predict, 'kubeflow': _kubeflow}


def main(argv: Optional[List[str]] = None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  if not argv or argv[0] in ('-h', '--help'):
    print(__doc__.strip().replace('\n\n', f'\n\nusage: {PROG} {{{",".join(COMMANDS)}}} …\n\n', 1))
    return 0 if argv else 2
  if argv[0] not in COMMANDS:
    print(f'{PROG}: error: unknown command {argv[0]!r}; choose one of {", ".join(COMMANDS)}',
          file=sys.stderr)
    return 2
  if PROJECT_ROOT not in sys.path:  # an installed console script starts elsewhere
    sys.path.insert(0, PROJECT_ROOT)
  return COMMANDS[argv[0]](argv[1:])


if __name__ == '__main__':
  sys.exit(main())
