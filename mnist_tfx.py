"""mnist-tfx: one command for the project's tools, from any directory.

  mnist-tfx run …        run the pipeline on this machine (local_runner.py)
  mnist-tfx inspect …    read what runs recorded: runs, compare, lineage, reports, served versions
  mnist-tfx predict …    classify pictures with a pushed model
  mnist-tfx kubeflow …   check a cluster, compile, upload (Kubeflow Pipelines, Vertex AI), KServe

`mnist-tfx COMMAND --help` says more. Installed into the venv's bin/ by `make install`.
"""

import sys
from typing import Callable, Dict, List, Optional

from components.lib.project import PROJECT_ROOT
from pipeline import console
from pipeline.commands import PROG, ExitCode

# Each tool is imported only when chosen: each costs seconds of TensorFlow, TFX or ML Metadata
# imports that the others need not pay, and native libraries must load after their logs are
# silenced. These deferred imports are the dispatcher's whole job.


def _run(argv: List[str]) -> int:
  console.silence_native_logs('--verbose' in argv)
  import local_runner  # deferred: see above

  return local_runner.main(argv, prog=f'{PROG} run')


def _inspect(argv: List[str]) -> int:
  console.silence_native_logs(verbose=False)
  from inspection import cli  # deferred: see above

  return cli.main(argv)


def _predict(argv: List[str]) -> int:
  console.silence_native_logs(verbose=False)
  from predict import cli  # deferred: see above

  return cli.main(argv)


def _kubeflow(argv: List[str]) -> int:
  console.silence_native_logs(verbose=False)
  from kubeflow import cli  # deferred: see above

  return cli.main(argv)


COMMANDS: Dict[str, Callable[[List[str]], int]] = {
  'run': _run,
  'inspect': _inspect,
  'predict': _predict,
  'kubeflow': _kubeflow,
}


def main(argv: Optional[List[str]] = None) -> int:
  """The console script: every command, its help included, ends quietly on a closed pipe."""
  argv = sys.argv[1:] if argv is None else argv
  return console.closed_pipe_safe(lambda: _dispatch(argv))


def _dispatch(argv: List[str]) -> int:
  if not argv or argv[0] in ('-h', '--help'):
    usage = f'usage: {PROG} {{{",".join(COMMANDS)}}} …'
    print(__doc__.strip().replace('\n\n', f'\n\n{usage}\n\n', 1))
    return ExitCode.OK if argv else ExitCode.USAGE
  if argv[0] not in COMMANDS:
    print(
      f'{PROG}: error: unknown command {argv[0]!r}; choose one of {", ".join(COMMANDS)}',
      file=sys.stderr,
    )
    return ExitCode.USAGE
  if PROJECT_ROOT not in sys.path:  # an installed console script starts elsewhere
    sys.path.insert(0, PROJECT_ROOT)
  return COMMANDS[argv[0]](argv[1:])


if __name__ == '__main__':
  sys.exit(main())
