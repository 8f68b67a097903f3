"""python -m kubeflow: the same command as `mnist-tfx kubeflow`, from the project dir."""

import sys

from pipeline import console


def main() -> int:
  console.silence_native_logs(verbose=False)
  # Deferred: TFX's and TensorFlow's native libraries read their log levels as they load, after
  # the line above.
  from kubeflow import cli

  return console.closed_pipe_safe(cli.main)


if __name__ == '__main__':
  sys.exit(main())
