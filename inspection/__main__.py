"""python -m inspection: the same command as `mnist-tfx inspect`, from the project dir."""

import sys

from pipeline import console


def main() -> int:
  console.silence_native_logs(verbose=False)
  # Deferred: ML Metadata's native library reads its log level as it loads, after the line above.
  from inspection import cli

  return console.closed_pipe_safe(cli.main)


if __name__ == '__main__':
  sys.exit(main())
