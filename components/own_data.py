"""The ExampleGen's work for data sets whose classes come from the data (--dataset images, csv)
and for a folder of new pictures to label (--infer-dir): components/lib/sources.py reads them.

As for the IDX files: every file is checked first, a chunk at a time (one line naming the file
and the problem, nothing written); then each split is written, a chunk whole to each numbered
GZIP TFRecord file, by one Beam element per split, and the read pass must read what the check
pass checked. The Examples artifact names the data set, its classes (names.CLASS_NAMES: the
Trainer, the schema and every reader take the class count from it), the source, each split's
count and the digest of the manifest (path, class, split, size and SHA-256 of every file), its
identity in lineage; the manifest itself and image_stats.json go beside the splits.
"""

import hashlib
import json
from typing import Any, Dict, List, Optional

import apache_beam as beam
import tensorflow as tf
from tfx import types
from tfx.types import artifact_utils

from components import example_records
from components.lib import datasets, names, sources


def _write_split(
  split: str,
  split_dirs: Dict[str, str],
  folder: str,
  dataset: str,
  unlabelled: bool,
  class_names: List[str],
  counts: Dict[str, int],
  identities: Dict[str, str],
) -> int:
  """One split's first counts[split] examples, chunk i whole to file number i (a Beam element:
  the source is opened again in the worker, and what it reads must be what was checked)."""
  source = sources.open_source(datasets.get(dataset), folder, unlabelled)
  source.class_names = tuple(class_names)
  chunk = example_records.CHUNK_EXAMPLES
  files = len(example_records.chunks(counts[split], chunk))
  tf.io.gfile.makedirs(split_dirs[split])
  written = 0
  parts = source.read(split, chunk, counts[split], identities[split])
  for index, (images, labels, paths) in enumerate(parts):
    examples = [
      example_records.to_example(
        image, None if unlabelled else label, paths[i] if unlabelled else None
      )
      for i, (image, label) in enumerate(zip(images, labels, strict=True))
    ]
    written += example_records.write_chunk(
      example_records.chunk_path(split_dirs[split], index, files), examples
    )
  return written


def _stats_of(stats: example_records.ImageStats, classes: int) -> Dict[str, Any]:
  """The statistics of the first `classes` classes (a CSV's count is known only at its end)."""
  trimmed = example_records.ImageStats(classes)
  trimmed.counts, trimmed.sums = stats.counts[:classes], stats.sums[:classes]
  trimmed.histogram = stats.histogram
  return trimmed.result()


def write_examples(
  pipeline_factory,
  examples: types.Artifact,
  dataset: datasets.Dataset,
  folder: str,
  limits: Dict[str, int],
  unlabelled: bool = False,
) -> Dict[str, int]:
  """Checks, then writes, the splits of `folder` into `examples`; returns split -> count.
  `pipeline_factory` makes the Beam pipeline (the executor's _make_beam_pipeline)."""
  source = sources.open_source(dataset, folder, unlabelled)
  splits = list(source.splits)
  stats: Dict[str, example_records.ImageStats] = {}
  checks: Dict[str, sources.SplitCheck] = {}
  manifest = sources.Manifest()
  try:
    counts = _check(source, splits, limits, unlabelled, stats, checks, manifest)
    _write(pipeline_factory, examples, source, dataset, folder, unlabelled, counts, checks)
    uri = examples.uri.rstrip('/')
    digest = hashlib.sha256()
    with tf.io.gfile.GFile(f'{uri}/{names.MANIFEST_FILE}', 'w') as f:
      for block in manifest.text():
        f.write(block)
        digest.update(block.encode('utf-8'))
  finally:
    manifest.close()
  examples.set_string_custom_property(names.MANIFEST_SHA256, digest.hexdigest())
  examples.set_string_custom_property('source_uri', folder)
  examples.set_string_custom_property(names.DATASET, dataset.name)
  for split, count in counts.items():
    examples.set_int_custom_property(f'{split}_examples', count)
  if unlabelled:
    return counts
  class_names = list(source.class_names)
  examples.set_string_custom_property(names.CLASS_NAMES, json.dumps(class_names))
  if dataset.kind == datasets.CSV_KIND:
    for split in splits:
      name, _, _, _, sha = manifest.first[split]
      examples.set_string_custom_property(f'sha256_{name.replace(".", "_")}', sha)
  with tf.io.gfile.GFile(f'{uri}/{names.IMAGE_STATS_FILE}', 'w') as f:
    json.dump(
      {
        names.DATASET: dataset.name,
        names.CLASS_NAMES: class_names,
        'splits': {s: _stats_of(stats[s], len(class_names)) for s in splits},
      },
      f,
    )
  return counts


def _check(source, splits, limits, unlabelled, stats, checks, manifest) -> Dict[str, int]:
  """The check pass over every split: each split's statistics, identity and count."""
  for split in splits:
    limit: Optional[int] = limits.get(split)
    size = len(source.class_names) or datasets.MAX_CLASSES
    stats[split], seen = example_records.ImageStats(size), [0]

    def gather(images, labels, split=split, limit=limit, seen=seen):
      keep = len(labels) if not limit else max(0, min(len(labels), limit - seen[0]))
      if keep and not unlabelled:
        stats[split].add(images[:keep], labels[:keep])
      seen[0] += len(labels)

    checks[split] = source.check(split, example_records.CHUNK_EXAMPLES, gather, manifest, limit)
  return {s: min(limits[s], checks[s].count) if limits.get(s) else checks[s].count for s in splits}


def _write(pipeline_factory, examples, source, dataset, folder, unlabelled, counts, checks):
  """The read pass: one Beam element per split, each written whole by _write_split."""
  splits = list(counts)
  examples.split_names = artifact_utils.encode_split_names(splits)
  split_dirs = {s: artifact_utils.get_split_uri([examples], s) for s in splits}
  identities = {s: checks[s].identity for s in splits}
  with pipeline_factory() as pipeline:
    _ = (
      pipeline
      | 'Splits' >> beam.Create(splits)
      | 'Spread' >> beam.Reshuffle()
      | 'Write'
      >> beam.Map(
        _write_split,
        split_dirs,
        folder,
        dataset.name,
        unlabelled,
        list(source.class_names),
        counts,
        identities,
      )
    )
