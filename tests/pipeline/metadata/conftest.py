"""The recorded two-run fixture (see make_fixture.py), copied to a tmp dir and opened with ML
Metadata: run 1 blessed and pushed with no baseline; run 2 reused run 1's Trainer, compared it
with run 1's blessed model and was refused by the bound 0.9999."""
import shutil

import pytest

from tests.pipeline.metadata.make_fixture import FIXTURE_DIR, FIXTURE_ROOT, move_artifact_uris


@pytest.fixture
def recorded(tmp_path):
  """(output dir, read-only ML Metadata store) of the two recorded runs."""
  from pipeline.config import LocalPaths
  from pipeline.metadata import store as store_lib
  output_dir = str(tmp_path / 'D')
  shutil.copytree(FIXTURE_DIR, output_dir)
  paths = LocalPaths.under(output_dir)
  move_artifact_uris(paths.metadata_path, FIXTURE_ROOT, output_dir)
  return output_dir, store_lib.open_store(store_lib.sqlite_config(paths.metadata_path, read_only=True))
