"""One run per output dir at a time: OutputDirLock holds an flock on <output dir>/.run.lock for
the whole run (the kernel drops it when the process ends, however it ends), and writes who holds
it into the file, so that a second run can name the first. Written on the standard library's
fcntl.flock: no lock library in the pinned set keeps such a record in the lock file itself."""

import contextlib
import datetime
import errno
import fcntl
import json
import os
import socket
import stat
import time
from typing import Any, Dict, Optional

from components.lib.local_files import NotRegularFileError, kind
from pipeline.commands import ExitCode
from pipeline.local.errors import RunError
from pipeline.paths import LocalPaths


def _not_a_directory(path: str) -> Optional[str]:
  """The path itself or the first of its parents that exists and is not a directory."""
  probe = path
  while probe and probe != os.path.dirname(probe):
    if os.path.lexists(probe):
      return None if os.path.isdir(probe) else probe
    probe = os.path.dirname(probe)
  return None


class OutputDirLock:
  """`with OutputDirLock(paths, run_id):` — this process is the one run writing to the output
  dir, or RunError (exit 1) naming the run that is. Made before anything is written there."""

  # A reader probing the lock (python -m inspection) holds it for microseconds: a run
  # that finds it taken looks again for this long before it gives up.
  PATIENCE_S = 0.5

  def __init__(self, paths: LocalPaths, run_id: str):
    self.paths, self.run_id = paths, run_id
    self._fd: Optional[int] = None

  def __enter__(self) -> 'OutputDirLock':
    output_dir = self.paths.output_dir
    try:
      os.makedirs(output_dir, exist_ok=True)
      self._fd = _open_regular(self.paths.lock_path, os.O_RDWR | os.O_CREAT)
    except OSError as e:
      blocker = _not_a_directory(output_dir)
      if blocker:
        what = 'it is a file' if blocker == output_dir else f'{blocker} is a file'
        raise RunError(
          f'error: --output-dir {output_dir}: {what}, not a directory', ExitCode.USAGE
        ) from None
      if os.path.lexists(self.paths.lock_path) and os.access(output_dir, os.W_OK | os.X_OK):
        raise RunError(
          f"error: {self.paths.lock_path}: this output dir's run lock cannot be opened "
          f'({e.strerror or e}); if no run is using {output_dir}, remove it '
          f'(rm -r {self.paths.lock_path}) and rerun'
        ) from None
      raise RunError(
        f'error: --output-dir {output_dir}: cannot write there '
        f'({e.strerror or type(e).__name__}); choose a directory you can write to'
      ) from None
    deadline = time.monotonic() + self.PATIENCE_S
    while True:
      try:
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        break
      except BlockingIOError:
        if time.monotonic() < deadline:
          time.sleep(0.05)
          continue
        holder = _read_holder(self._fd)
        os.close(self._fd)
        self._fd = None
        raise RunError(
          f'error: {output_dir} is in use by another run ({describe_holder(holder)}); '
          'wait for it to end, or pass another --output-dir'
        ) from None
    record = {
      'pid': os.getpid(),
      'host': socket.gethostname(),
      'run_id': self.run_id,
      'started': datetime.datetime.now().isoformat(timespec='seconds'),
    }
    os.ftruncate(self._fd, 0)
    os.pwrite(self._fd, (json.dumps(record) + '\n').encode(), 0)
    return self

  def __exit__(self, *exc) -> None:
    if self._fd is not None:
      with contextlib.suppress(OSError):
        os.ftruncate(self._fd, 0)  # the run is over: its record goes with the lock
      os.close(self._fd)  # closing it releases the flock
      self._fd = None


def _open_regular(path: str, flags: int) -> int:
  """os.open of the lock file, refused (NotRegularFileError) unless it is a regular file: a
  FIFO would block a reader, and flock and truncate fail on it. Opened without blocking, and
  checked on the descriptor itself."""
  fd = os.open(path, flags | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
  try:
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
      raise NotRegularFileError(errno.EINVAL, f'it is {kind(mode)}, not a regular file')
    os.set_blocking(fd, True)
    return fd
  except BaseException:
    os.close(fd)
    raise


MAX_RECORD = 4096  # a holder's record is one short JSON line


def parse_holder(raw: bytes) -> Dict[str, Any]:
  """The record a holder wrote (pid, host, run_id, started), each field kept only when it has
  the form OutputDirLock writes; {} when the bytes are not such a record. For messages only."""
  try:
    record = json.loads(raw[:MAX_RECORD].decode('utf-8'))
  except (ValueError, RecursionError):
    return {}
  if not isinstance(record, dict):
    return {}
  kept: Dict[str, Any] = {}
  pid = record.get('pid')
  if isinstance(pid, int) and not isinstance(pid, bool) and 0 < pid < 2**31:
    kept['pid'] = pid
  for key in ('host', 'run_id', 'started'):
    value = record.get(key)
    if isinstance(value, str) and value.isprintable() and 0 < len(value) <= 255:
      kept[key] = value
  return kept


def _read_holder(fd: int) -> Dict[str, Any]:
  """What the holder wrote into the lock file; {} if it has not written yet."""
  for _ in range(10):  # the holder writes right after it takes the lock
    try:
      raw = os.pread(fd, MAX_RECORD, 0)
    except OSError:
      raw = b''
    if raw.strip():
      return parse_holder(raw)
    time.sleep(0.05)
  return {}


def describe_holder(holder: Dict[str, Any]) -> str:
  if not holder.get('pid'):
    return 'pid unknown'
  where = '' if holder.get('host') in (None, socket.gethostname()) else f' on {holder["host"]}'
  text = f'pid {holder["pid"]}{where}'
  if holder.get('started'):
    text += f', started {holder["started"]}'
  if holder.get('run_id'):
    text += f', run {holder["run_id"]}'
  return text


def lock_holder(output_dir: str) -> Optional[Dict[str, Any]]:
  """None when no run holds the output dir; else what the run holding it wrote (maybe {})."""
  try:
    fd = _open_regular(LocalPaths(output_dir).lock_path, os.O_RDONLY)
  except OSError:
    return None  # no lock file (no run ever started here), or not one a run could hold
  try:
    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    fcntl.flock(fd, fcntl.LOCK_UN)
    return None
  except BlockingIOError:
    return _read_holder(fd)
  finally:
    os.close(fd)
