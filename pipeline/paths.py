"""Where a local run keeps everything: one output dir, its layout both ways (a path inside it
back to the output dir), and TFX's layout of artifacts under the pipeline root.

A local run's outputs live in the project, wherever a command is started from, so that
`mnist-tfx run`, `inspect` and `predict` meet in the same place from any working directory.
$MNIST_TFX_OUTPUT_ROOT moves both default output dirs elsewhere (e.g. to a scratch disk)."""

import argparse
import dataclasses
import os
import re
from typing import List, NamedTuple, Optional

from components.lib.project import PROJECT_ROOT

OUTPUT_ROOT_ENV = 'MNIST_TFX_OUTPUT_ROOT'
OUTPUT_ROOT = os.path.abspath(os.environ.get(OUTPUT_ROOT_ENV) or PROJECT_ROOT)
DEFAULT_OUTPUT_DIR = os.path.join(OUTPUT_ROOT, 'tfx_output')
# The smoke run (`--demo`) has an output dir of its own, so it never becomes a real run's baseline.
DEMO_OUTPUT_DIR = os.path.join(OUTPUT_ROOT, 'demo_output')

METADATA_FILE = 'metadata.sqlite'
SERVING_DIR = 'serving'
PIPELINE_ROOT_DIR = 'pipeline_root'  # the first store's; a later store's is pipeline_root-2, …
REPORTS_DIR = 'reports'
DATA_SET_FILE = 'dataset.json'  # which data set (and classes) the output dir's models are of


@dataclasses.dataclass(frozen=True)
class LocalPaths:
  """Everything of a local run, under one output dir (the runner writes there, the read tools
  read there)."""

  output_dir: str

  @classmethod
  def under(cls, output_dir: str = DEFAULT_OUTPUT_DIR) -> 'LocalPaths':
    return cls(os.path.abspath(output_dir))

  @classmethod
  def of_version_dir(cls, version_dir: str) -> Optional['LocalPaths']:
    """The output dir whose serving dir holds `version_dir` (<D>/serving/<version>), if that is
    a local run's (it has its ML Metadata store); else None."""
    if '://' in version_dir:
      return None
    serving = os.path.dirname(os.path.abspath(version_dir))
    if os.path.basename(serving) != SERVING_DIR:
      return None
    paths = cls(os.path.dirname(serving))
    return paths if os.path.exists(paths.metadata_path) else None

  @property
  def pipeline_root(self) -> str:
    """The first ML Metadata store's pipeline root (pipeline/local/store_root.py: each store
    writes into one of its own)."""
    return self.pipeline_root_generation(1)

  def pipeline_root_generation(self, n: int) -> str:
    """The pipeline root of the n-th store of this output dir: pipeline_root, pipeline_root-2…"""
    return os.path.join(self.output_dir, PIPELINE_ROOT_DIR + ('' if n == 1 else f'-{n}'))

  def pipeline_root_generations(self) -> List[int]:
    """The generations whose pipeline root exists here, ascending."""
    found = []
    for name in os.listdir(self.output_dir) if os.path.isdir(self.output_dir) else []:
      match = re.fullmatch(re.escape(PIPELINE_ROOT_DIR) + r'(?:-([2-9]|[1-9][0-9]{1,5}))?', name)
      if match and os.path.isdir(os.path.join(self.output_dir, name)):
        found.append(int(match.group(1) or 1))
    return sorted(found)

  @property
  def data_set_path(self) -> str:
    return os.path.join(self.output_dir, DATA_SET_FILE)

  @property
  def serving_dir(self) -> str:
    return os.path.join(self.output_dir, SERVING_DIR)

  @property
  def metadata_path(self) -> str:
    return os.path.join(self.output_dir, METADATA_FILE)

  @property
  def reports_dir(self) -> str:
    return os.path.join(self.output_dir, REPORTS_DIR)

  @property
  def index_path(self) -> str:
    """The page listing every run's report."""
    return os.path.join(self.output_dir, 'index.html')

  @property
  def lock_path(self) -> str:
    """Held (flock) by the one run writing here; the kernel drops it when that process ends."""
    return os.path.join(self.output_dir, '.run.lock')

  def report_dir(self, run_id: str) -> str:
    """A run's report folder: its id, with what a file name cannot hold replaced."""
    return os.path.join(self.reports_dir, re.sub(r'[^0-9A-Za-z._-]', '-', run_id))

  def report_path(self, run_id: str) -> str:
    return os.path.join(self.report_dir(run_id), 'report.html')

  def examples_path(self, run_id: str) -> str:
    """A few of the run's own eval images, as `predict` and `classify` take them."""
    return os.path.join(self.report_dir(run_id), 'examples.npy')


class ArtifactPath(NamedTuple):
  """TFX's layout of an output artifact: <pipeline root>/<node id>/<output key>/<execution id>."""

  pipeline_root: str
  node_id: str
  output_key: str
  execution_id: str

  @property
  def uri(self) -> str:
    return os.path.join(self.pipeline_root, self.node_id, self.output_key, self.execution_id)

  @classmethod
  def parse(cls, uri: str) -> 'ArtifactPath':
    uri = uri.rstrip('/')
    rest, execution_id = os.path.split(uri)
    rest, output_key = os.path.split(rest)
    root, node_id = os.path.split(rest)
    return cls(root, node_id, output_key, execution_id)


def add_demo_argument(parser: argparse.ArgumentParser, what: str) -> None:
  """--demo: the smoke run's output dir (and, for a run, its settings) in one word."""
  parser.add_argument('--demo', action='store_true', help=f'{what} {DEMO_OUTPUT_DIR}')


def output_dir_of(args: argparse.Namespace) -> str:
  """--output-dir as given; else the demo's with --demo; else the default output dir."""
  if getattr(args, 'output_dir', None) is not None:
    return args.output_dir
  return DEMO_OUTPUT_DIR if getattr(args, 'demo', False) else DEFAULT_OUTPUT_DIR


def check_local_output_dir(output_dir: str) -> str:
  """ValueError for an --output-dir that is a URI: a local run's output dir holds its lock (an
  flock), its SQLite store and the served versions, which need a local filesystem. Without
  this, `s3://bucket/out` would become the local folder ./s3:/bucket/out."""
  if '://' in output_dir:
    raise ValueError(
      f'--output-dir {output_dir}: must be a local directory (a local run keeps its '
      'lock, ML Metadata store and served versions there); object stores can hold '
      "the data (--data-dir) or a Kubeflow run's pipeline root"
    )
  return output_dir
