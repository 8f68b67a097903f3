"""MNIST IDX files: strict validation, digest checks and download from public mirrors.

Pure Python + numpy so it can run anywhere (the ExampleGen executor, the local
runner's pre-flight, tests). Every problem is raised as `MnistDataError` whose
message is one line naming the file and what is wrong with it.
"""
import dataclasses
import gzip
import hashlib
import os
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from typing import Callable, Dict, Iterable, Optional, Sequence, Tuple

import numpy as np

from trainer_module.features import IMAGE_SIZE, NUM_CLASSES

IMAGE_MAGIC = 2051
LABEL_MAGIC = 2049
ROWS = COLS = IMAGE_SIZE

# The seed fetched from the CVDF mirror; the second is PyTorch's mirror of the same files.
DEFAULT_MIRRORS = (
    'https://storage.googleapis.com/cvdf-datasets/mnist/',
    'https://ossci-datasets.s3.amazonaws.com/mnist/',
)


@dataclasses.dataclass(frozen=True)
class IdxFile:
  name: str  # file name on disk / on the mirrors
  magic: int
  count: int
  sha256: str  # of the *decompressed* bytes


# Canonical MNIST: SHA-256 of the uncompressed IDX files (the gzip wrapping varies by mirror).
FILES: Dict[str, Tuple[IdxFile, IdxFile]] = {
    'train': (
        IdxFile('train-images-idx3-ubyte.gz', IMAGE_MAGIC, 60000,
                'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db'),
        IdxFile('train-labels-idx1-ubyte.gz', LABEL_MAGIC, 60000,
                '65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5'),
    ),
    't10k': (
        IdxFile('t10k-images-idx3-ubyte.gz', IMAGE_MAGIC, 10000,
                '0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7'),
        IdxFile('t10k-labels-idx1-ubyte.gz', LABEL_MAGIC, 10000,
                'ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2'),
    ),
}
ALL_FILES = tuple(f for pair in FILES.values() for f in pair)


class MnistDataError(ValueError):
  """Bad, missing or unobtainable MNIST input. The message is one user-facing line."""


@dataclasses.dataclass
class MnistSplit:
  images: np.ndarray  # uint8 [N, 28, 28]
  labels: np.ndarray  # uint8 [N]
  sha256: Dict[str, str]  # file name -> digest of the decompressed file


def _is_remote(path: str) -> bool:
  from components.object_storage import enable_for
  enable_for(path)  # also in Beam worker processes, which start without s3://
  return '://' in path


def read_bytes(path: str) -> bytes:
  """Reads a local file, or a gs:// / s3:// object through tf.io.gfile."""
  if _is_remote(path):
    import tensorflow as tf  # Only remote filesystems need TF here.
    with tf.io.gfile.GFile(path, 'rb') as f:
      return f.read()
  with open(path, 'rb') as f:
    return f.read()


def _exists(path: str) -> bool:
  if _is_remote(path):
    import tensorflow as tf
    return tf.io.gfile.exists(path)
  return os.path.exists(path)


def decompress(name: str, raw: bytes) -> bytes:
  try:
    return gzip.decompress(raw)
  except (OSError, EOFError, zlib.error) as e:
    raise MnistDataError(f'{name}: not a readable gzip file ({e})') from None


def parse_idx(name: str, data: bytes, spec: IdxFile) -> np.ndarray:
  """Parses decompressed IDX bytes, checking magic, shape and size against the header."""
  if len(data) < 8:
    raise MnistDataError(f'{name}: truncated IDX header ({len(data)} bytes)')
  magic = int.from_bytes(data[0:4], 'big')
  if magic != spec.magic:
    kind = 'images' if spec.magic == IMAGE_MAGIC else 'labels'
    raise MnistDataError(
        f'{name}: bad magic number {magic}, expected {spec.magic} (IDX {kind} file)')
  count = int.from_bytes(data[4:8], 'big')
  if spec.magic == IMAGE_MAGIC:
    if len(data) < 16:
      raise MnistDataError(f'{name}: truncated IDX header ({len(data)} bytes)')
    rows = int.from_bytes(data[8:12], 'big')
    cols = int.from_bytes(data[12:16], 'big')
    if (rows, cols) != (ROWS, COLS):
      raise MnistDataError(f'{name}: images are {rows}x{cols}, expected {ROWS}x{COLS}')
    header, shape = 16, (count, ROWS, COLS)
  else:
    header, shape = 8, (count,)
  expected = header + int(np.prod(shape))
  if len(data) != expected:
    raise MnistDataError(
        f'{name}: size {len(data)} bytes does not match its header '
        f'({count} items need {expected} bytes)')
  return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def sha256_hex(data: bytes) -> str:
  return hashlib.sha256(data).hexdigest()


def _load_file(data_dir: str, spec: IdxFile) -> Tuple[np.ndarray, str]:
  """The file's array (structure checked) and the digest of its decompressed bytes."""
  path = os.path.join(data_dir, spec.name)
  if not _exists(path):
    raise MnistDataError(f'{spec.name}: missing from {data_dir}')
  try:
    raw = read_bytes(path)
  except OSError as e:
    raise MnistDataError(f'{spec.name}: cannot be read ({e})') from None
  data = decompress(spec.name, raw)
  return parse_idx(spec.name, data, spec), sha256_hex(data)


def load_split(data_dir: str, prefix: str) -> MnistSplit:
  """Loads and fully validates one split ('train' or 't10k') from `data_dir`."""
  if prefix not in FILES:
    raise MnistDataError(f'unknown MNIST split {prefix!r}; expected one of {sorted(FILES)}')
  image_spec, label_spec = FILES[prefix]
  images, image_digest = _load_file(data_dir, image_spec)
  labels, label_digest = _load_file(data_dir, label_spec)
  # Structural problems first (clearer than a digest mismatch), then identity.
  if len(images) != len(labels):
    raise MnistDataError(
        f'{label_spec.name}: {len(labels)} labels but {image_spec.name} has {len(images)} images')
  if labels.size and labels.max() >= NUM_CLASSES:
    bad = int(np.argmax(labels >= NUM_CLASSES))
    raise MnistDataError(
        f'{label_spec.name}: label {int(labels[bad])} at index {bad} is outside 0-9')
  for spec, digest in ((image_spec, image_digest), (label_spec, label_digest)):
    if digest != spec.sha256:
      raise MnistDataError(
          f'{spec.name}: SHA-256 of the decompressed file is {digest}, expected '
          f'{spec.sha256} (not the canonical MNIST file)')
  return MnistSplit(images, labels, {image_spec.name: image_digest, label_spec.name: label_digest})


def validate_dir(data_dir: str) -> Dict[str, str]:
  """Validates all four files; returns file name -> decompressed SHA-256."""
  digests = {}
  for prefix in FILES:
    digests.update(load_split(data_dir, prefix).sha256)
  return digests


# ----------------------------------------------------------------------------- download


def _fetch(url: str, timeout: float) -> bytes:
  with urllib.request.urlopen(url, timeout=timeout) as response:
    return response.read()


def _valid_cached(path: str, spec: IdxFile) -> bool:
  try:
    with open(path, 'rb') as f:
      return sha256_hex(gzip.decompress(f.read())) == spec.sha256
  except (OSError, EOFError, zlib.error):
    return False


def download(cache_dir: str,
             mirrors: Sequence[str] = DEFAULT_MIRRORS,
             retries: int = 3,
             timeout: float = 30.0,
             backoff: float = 1.0,
             log: Callable[[str], None] = lambda msg: None,
             fetch: Callable[[str, float], bytes] = _fetch) -> str:
  """Makes sure `cache_dir` holds the four canonical files; returns `cache_dir`.

  Each file is tried on every mirror in order, `retries` times per mirror, and is
  only kept (atomically renamed into place) once its decompressed digest matches.
  """
  os.makedirs(cache_dir, exist_ok=True)
  for spec in ALL_FILES:
    target = os.path.join(cache_dir, spec.name)
    if os.path.exists(target) and _valid_cached(target, spec):
      continue
    problems = {}  # url -> (tries, last reason)
    for mirror in mirrors:
      url = mirror.rstrip('/') + '/' + spec.name
      for attempt in range(1, retries + 1):
        try:
          raw = fetch(url, timeout)
          digest = sha256_hex(decompress(spec.name, raw))
          if digest != spec.sha256:
            raise MnistDataError(f'digest {digest[:12]}… does not match {spec.sha256[:12]}…')
        except (OSError, urllib.error.URLError, MnistDataError, ValueError) as e:
          reason = getattr(e, 'reason', None) or e
          problems[url] = (attempt, reason)
          # A corrupt or missing file will be so again; only transient errors are retried.
          permanent = isinstance(e, MnistDataError) or (
              isinstance(e, urllib.error.HTTPError) and e.code < 500 and e.code != 429)
          if permanent or attempt == retries:
            break
          time.sleep(backoff * attempt)
          continue
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix='.' + spec.name)
        with os.fdopen(fd, 'wb') as f:
          f.write(raw)
        os.replace(tmp, target)
        log(f'downloaded {spec.name} from {mirror}')
        break
      if os.path.exists(target) and _valid_cached(target, spec):
        break
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
                     log: Callable[[str], None] = lambda msg: None) -> str:
  """--data-dir, else $MNIST_DATA_DIR, else a download into the cache dir.

  $MNIST_MIRRORS (comma-separated base URLs) replaces the public mirrors, e.g. for an
  internal mirror.
  """
  env = os.environ if env is None else env
  if mirrors is None:
    mirrors = [m for m in env.get('MNIST_MIRRORS', '').split(',') if m.strip()] or DEFAULT_MIRRORS
  chosen = data_dir or env.get('MNIST_DATA_DIR')
  if chosen:
    if not _is_remote(chosen):
      chosen = os.path.abspath(chosen)
      if not os.path.isdir(chosen):
        raise MnistDataError(f'{chosen}: data directory does not exist')
    return chosen
  return download(cache_dir or default_cache_dir(env), mirrors=tuple(mirrors), log=log)
