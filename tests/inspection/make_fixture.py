"""Rebuilds tests/inspection/fixtures/two_runs from a real local output dir, so the read
side can be tested in seconds on what TFX 1.16, ML Metadata and TFMA really record.

Make the output dir exactly as the `two_runs` fixture in tests/conftest.py does:

  C="local_runner.py --output-dir /tmp/D --train-examples 3000 --eval-examples 1000 --epochs 2"
  python $C --accuracy-threshold 0.5      # run 1: blessed, pushed
  python $C --accuracy-threshold 0.9999   # run 2: cached Trainer, refused by the bound
  python -m tests.inspection.make_fixture /tmp/D

Kept: metadata.sqlite (artifact URIs moved under FIXTURE_ROOT through ML Metadata's API; the
executions keep the run's paths and timings), every Evaluator output (TFMA's own files), the
blessings (the Evaluator's; the ServingCheck's with its serving_check.json and eval_answers.npz),
the schemas and the anomalies, the Trainer's history.json, MnistExampleGen's image_stats.json and
the first EXAMPLES_KEPT records of each split: what the read side (inspection/) reads.
Left out (megabytes): the model, the pushed model, the statistics, the serving dir, the reports.
"""

import gzip
import os
import shutil
import sys

from components.lib import names

FIXTURE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures', 'two_runs')
FIXTURE_ROOT = '/FIXTURE'  # stands for the fixture's copy in a test's tmp dir
EXAMPLES_KEPT = 40
# Output folders (<node id>/<output key>) kept whole: small, and what the read side reads.
KEPT_WHOLE = tuple(
  os.path.join(node, key)
  for node, key in (
    (names.EVALUATOR, 'evaluation'),
    (names.EVALUATOR, 'blessing'),
    (names.SERVING_CHECK, 'blessing'),
    (names.IMPORT_SCHEMA_GEN, 'schema'),
    (names.SCHEMA_GEN, 'schema'),
    (names.EXAMPLE_VALIDATOR, 'anomalies'),
  )
)


def move_artifact_uris(sqlite_path: str, old_root: str, new_root: str) -> None:
  """Every artifact URI and string property under old_root moves under new_root."""
  from ml_metadata import metadata_store
  from ml_metadata.proto import metadata_store_pb2

  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = sqlite_path
  config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE
  store = metadata_store.MetadataStore(config)
  old_root = old_root.rstrip('/')
  moved = []
  for artifact in store.get_artifacts():
    if artifact.uri.startswith(old_root + '/'):
      artifact.uri = new_root + artifact.uri[len(old_root) :]
    for value in list(artifact.custom_properties.values()) + list(artifact.properties.values()):
      if value.WhichOneof('value') == 'string_value' and value.string_value.startswith(
        old_root + '/'
      ):
        value.string_value = new_root + value.string_value[len(old_root) :]
    moved.append(artifact)
  store.put_artifacts(moved)


def _first_records(source: str, target: str, n: int) -> None:
  """The first n records of a GZIP TFRecord file (length, crc, data, crc framing kept as is)."""
  with gzip.open(source, 'rb') as f, gzip.open(target, 'wb') as out:
    for _ in range(n):
      header = f.read(12)
      if len(header) < 12:
        break
      length = int.from_bytes(header[:8], 'little')
      out.write(header + f.read(length + 4))


def main(output_dir: str) -> None:
  output_dir = os.path.abspath(output_dir)
  shutil.rmtree(FIXTURE_DIR, ignore_errors=True)
  os.makedirs(FIXTURE_DIR)
  root = os.path.join(output_dir, 'pipeline_root')
  target_root = os.path.join(FIXTURE_DIR, 'pipeline_root')
  for pattern in KEPT_WHOLE:
    for dirpath, _, files in os.walk(os.path.join(root, pattern)):
      for name in files:
        target = os.path.join(target_root, os.path.relpath(dirpath, root))
        os.makedirs(target, exist_ok=True)
        shutil.copy(os.path.join(dirpath, name), os.path.join(target, name))
  model_runs = os.path.join(root, names.TRAINER, 'model_run')  # history.json, not TensorBoard's
  for run_dir in sorted(os.listdir(model_runs)):
    for name in os.listdir(os.path.join(model_runs, run_dir)):
      if os.path.isfile(os.path.join(model_runs, run_dir, name)):
        target = os.path.join(target_root, os.path.relpath(model_runs, root), run_dir)
        os.makedirs(target, exist_ok=True)
        shutil.copy(os.path.join(model_runs, run_dir, name), os.path.join(target, name))
  examples = os.path.join(root, names.EXAMPLE_GEN, 'examples')
  for dirpath, _, files in os.walk(examples):
    for name in files:
      target = os.path.join(target_root, os.path.relpath(dirpath, root))
      if dirpath.rsplit('/', 1)[-1].startswith('Split-'):
        os.makedirs(target, exist_ok=True)
        _first_records(os.path.join(dirpath, name), os.path.join(target, name), EXAMPLES_KEPT)
      elif name == names.IMAGE_STATS_FILE:
        os.makedirs(target, exist_ok=True)
        shutil.copy(os.path.join(dirpath, name), os.path.join(target, name))
  sqlite = os.path.join(FIXTURE_DIR, 'metadata.sqlite')
  shutil.copy(os.path.join(output_dir, 'metadata.sqlite'), sqlite)
  move_artifact_uris(sqlite, output_dir, FIXTURE_ROOT)
  import sqlite3

  with sqlite3.connect(sqlite) as connection:  # the file only, not MLMD's content: drop free pages
    connection.execute('VACUUM')
  print(f'wrote {FIXTURE_DIR}')


if __name__ == '__main__':
  main(sys.argv[1])
