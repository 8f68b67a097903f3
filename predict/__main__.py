"""python -m predict: the same command as `mnist-tfx predict`, from the project dir."""

import sys

from pipeline import console


def main() -> int:
  console.silence_native_logs(verbose=False)
  # Deferred: TensorFlow's and ML Metadata's native libraries read their log levels as they load,
  # after the line above.
  from predict import cli

  return console.closed_pipe_safe(cli.main)


if __name__ == '__main__':
  sys.exit(main())
