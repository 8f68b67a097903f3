"""Where the MNIST files come from: --data-dir, else $MNIST_DATA_DIR, else the download cache,
filled from the public mirrors (tried in order, transient errors retried, a file kept only once
its decompressed digest is the canonical one)."""
import os
import tempfile
import time
import urllib.error
import urllib.request
from typing import Callable, Dict, Iterable, Optional, Sequence, Tuple

from components.mnist_data import ALL_FILES, IdxFile, MnistDataError, decompress, is_remote, sha256_hex

# The seed fetched from the CVDF mirror; the second is PyTorch's mirror of the same files.
DEFAULT_MIRRORS = (
    'https://storage.googleapis.com/cvdf-datasets/mnist/',
    'https://ossci-datasets.s3.amazonaws.com/mnist/',
)
Log = Callable[[str], None]


def _fetch(url: str, timeout: float) -> bytes:
  with urllib.request.urlopen(url, timeout=timeout) as response:
    return response.read()


def _is_canonical(raw: bytes, spec: IdxFile) -> bool:
  try:
    return sha256_hex(decompress(spec.name, raw)) == spec.sha256
  except MnistDataError:
    return False


def _cached(path: str, spec: IdxFile) -> bool:
  try:
    with open(path, 'rb') as f:
      return _is_canonical(f.read(), spec)
  except OSError:
    return False


def _store(cache_dir: str, spec: IdxFile, raw: bytes) -> None:
  """Written beside the target and renamed: a file in the cache is always whole."""
  fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix='.' + spec.name)
  with os.fdopen(fd, 'wb') as f:
    f.write(raw)
  os.replace(tmp, os.path.join(cache_dir, spec.name))


def _from_mirror(url: str, spec: IdxFile, retries: int, timeout: float, backoff: float,
                 fetch: Callable[[str, float], bytes]) -> Tuple[Optional[bytes], int, object]:
  """(the canonical file or None, tries made, the last problem)."""
  reason: object = None
  for attempt in range(1, retries + 1):
    try:
      raw = fetch(url, timeout)
      digest = sha256_hex(decompress(spec.name, raw))
      if digest == spec.sha256:
        return raw, attempt, None
      return None, attempt, f'digest {digest[:12]}… does not match {spec.sha256[:12]}…'
    except MnistDataError as e:  # not gzip: a corrupt file will be so again
      return None, attempt, e
    except (OSError, urllib.error.URLError, ValueError) as e:
      reason = getattr(e, 'reason', None) or e
      if isinstance(e, urllib.error.HTTPError) and e.code < 500 and e.code != 429:
        return None, attempt, reason  # missing: not transient
      if attempt < retries:
        time.sleep(backoff * attempt)
  return None, retries, reason


def download(cache_dir: str,
             mirrors: Sequence[str] = DEFAULT_MIRRORS,
             retries: int = 3,
             timeout: float = 30.0,
             backoff: float = 1.0,
             log: Log = lambda msg: None,
             fetch: Callable[[str, float], bytes] = _fetch) -> str:
  """Makes sure `cache_dir` holds the four canonical files; returns `cache_dir`."""
  os.makedirs(cache_dir, exist_ok=True)
  for spec in ALL_FILES:
    if _cached(os.path.join(cache_dir, spec.name), spec):
      continue
    problems: Dict[str, Tuple[int, object]] = {}  # url -> (tries, last reason)
    for mirror in mirrors:
      url = mirror.rstrip('/') + '/' + spec.name
      raw, tries, reason = _from_mirror(url, spec, retries, timeout, backoff, fetch)
      if raw is not None:
        _store(cache_dir, spec, raw)
        log(f'downloaded {spec.name} from {mirror}')
        break
      problems[url] = (tries, reason)
    else:
      tried = '; '.join(f'{url}: {reason} ({tries} {"try" if tries == 1 else "tries"})'
                        for url, (tries, reason) in problems.items())
      raise MnistDataError(
          f'{spec.name}: could not download a valid copy from any mirror ({tried}); '
          f'with no internet, pass --data-dir DIR (or set MNIST_DATA_DIR) to a folder holding '
          f'the four MNIST .gz files')
  return cache_dir


def default_cache_dir(env: Optional[dict] = None) -> str:
  env = os.environ if env is None else env
  base = env.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
  return os.path.join(base, 'mnist-tfx')


def resolve_data_dir(data_dir: Optional[str], env: Optional[dict] = None,
                     cache_dir: Optional[str] = None,
                     mirrors: Optional[Iterable[str]] = None,
                     log: Log = lambda msg: None) -> str:
  """--data-dir, else $MNIST_DATA_DIR, else a download into the cache dir.

  $MNIST_MIRRORS (comma-separated base URLs) replaces the public mirrors, e.g. for an
  internal mirror.
  """
  env = os.environ if env is None else env
  if mirrors is None:
    mirrors = [m for m in env.get('MNIST_MIRRORS', '').split(',') if m.strip()] or DEFAULT_MIRRORS
  chosen = data_dir or env.get('MNIST_DATA_DIR')
  if chosen:
    if not is_remote(chosen):
      chosen = os.path.abspath(chosen)
      if not os.path.isdir(chosen):
        raise MnistDataError(f'{chosen}: data directory does not exist')
    return chosen
  return download(cache_dir or default_cache_dir(env), mirrors=tuple(mirrors), log=log)
