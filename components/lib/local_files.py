"""Opening a local file that must be a regular file: a FIFO would block the reader forever, a
device (/dev/zero) never ends, a socket cannot be read. Each is refused with one line."""

import os
import stat

KINDS = (
  (stat.S_ISFIFO, 'a FIFO'),
  (stat.S_ISCHR, 'a character device'),
  (stat.S_ISBLK, 'a block device'),
  (stat.S_ISSOCK, 'a socket'),
  (stat.S_ISDIR, 'a directory'),
)


class NotRegularFileError(OSError):
  """The path names something other than a regular file; str() is one line without the path."""


def kind(mode: int) -> str:
  return next((name for test, name in KINDS if test(mode)), 'not a regular file')


def check_regular(path: str) -> None:
  """NotRegularFileError unless `path` (symlinks followed) is a regular file; FileNotFoundError
  and the like as os.stat raises them."""
  mode = os.stat(path).st_mode
  if not stat.S_ISREG(mode):
    raise NotRegularFileError(f'is {kind(mode)}, not a regular file')


def open_regular(path: str):
  """The file opened for binary reading, or NotRegularFileError. Opened without blocking and
  checked on the descriptor itself, so a FIFO swapped in after a check cannot block it."""
  check_regular(path)
  fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
  try:
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
      raise NotRegularFileError(f'is {kind(mode)}, not a regular file')
    os.set_blocking(fd, True)
    return os.fdopen(fd, 'rb')
  except BaseException:
    os.close(fd)
    raise
