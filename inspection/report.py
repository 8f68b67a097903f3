"""The run report's data, collected from ML Metadata and the run's artifacts (any filesystem);
report_html renders it, quality computes the numbers from plain arrays.

collect() needs the store; model_quality() and read_history() need only artifact URIs, so a
Kubeflow task that holds the artifacts but not the store (kubeflow/run_results.py) uses them too.
"""
import json
import os
import re
import tempfile
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np

from inspection import lineage
from inspection import quality
from inspection import report_html
from inspection import runs
from trainer_module.features import EVAL_SPLIT, IMAGE_KEY, IMAGE_SIZE, LABEL_KEY, NUM_CLASSES, TRAIN_SPLIT
from components.lib import mlmd

GATE_KEYS = ('lower_bound', 'change_threshold', 'accuracy', 'baseline_accuracy', 'failures')


def _split_batches(examples_uri: str, split: str, limit: Optional[int] = None,
                   batch: int = 2048) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
  """One split of an Examples artifact, in its order, as (uint8 images [n, 28, 28], int labels
  [n]) batches (the first `limit` examples only, when given); from any filesystem."""
  import tensorflow as tf
  from trainer_module import data
  files = sorted(tf.io.gfile.glob(f'{examples_uri.rstrip("/")}/Split-{split}/*'))  # any filesystem
  records = tf.data.TFRecordDataset(files, compression_type='GZIP')
  if limit is not None:
    records = records.take(limit)
  for records_batch in records.batch(batch):
    features = tf.io.parse_example(records_batch, data.FEATURE_SPEC)
    yield (tf.io.decode_raw(features[IMAGE_KEY], tf.uint8).numpy().reshape(-1, IMAGE_SIZE, IMAGE_SIZE),
           features[LABEL_KEY].numpy())


def read_split(examples_uri: str, split: str, limit: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
  """(uint8 images [N, 28, 28], int labels [N]) of one split of an Examples artifact, or of its
  first `limit` examples: the whole split in memory, so only for small ones (see model_quality)."""
  images, labels = [], []
  for batch_images, batch_labels in _split_batches(examples_uri, split, limit):
    images.append(batch_images)
    labels.append(batch_labels)
  if not images:
    return np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8), np.zeros((0,), np.int64)
  return np.concatenate(images), np.concatenate(labels)


def _load_classify(model_uri: str):
  import tensorflow as tf
  return tf.saved_model.load(os.path.join(model_uri, 'Format-Serving')).signatures['classify']


def _classify(classify, images: np.ndarray) -> np.ndarray:
  import tensorflow as tf
  probabilities = [classify(image=tf.constant(images[i:i + 1000] / 255.0, tf.float32))['probabilities'].numpy()
                   for i in range(0, len(images), 1000)]
  return np.concatenate(probabilities) if probabilities else np.zeros((0, NUM_CLASSES))


def predict(model_uri: str, images: np.ndarray) -> np.ndarray:
  """The Trainer's model's `classify` probabilities for uint8 images."""
  return _classify(_load_classify(model_uri), images)


def read_history(model_run_uri: Optional[str]) -> Optional[Dict[str, List[float]]]:
  """The Trainer's per-epoch loss and accuracy (ModelRun's history.json), on any filesystem."""
  if not model_run_uri:
    return None
  from tfx.dsl.io import fileio
  path = f'{model_run_uri.rstrip("/")}/history.json'
  if not fileio.exists(path):
    return None
  with fileio.open(path, 'r') as f:
    return json.loads(f.read())


def _label_counts(examples_uri: str) -> Dict[str, List[int]]:
  """Per split, the label counts the ExampleGen recorded (image_stats.json), if it did."""
  from components.mnist_example_gen import IMAGE_STATS_FILE
  text = _read_text(f'{examples_uri.rstrip("/")}/{IMAGE_STATS_FILE}')
  splits = json.loads(text).get('splits', {}) if text else {}
  return {split: stats['label_counts'] for split, stats in splits.items() if 'label_counts' in stats}


def model_quality(examples_uri: str, model_uri: Optional[str],
                  blessing_uri: Optional[str] = None) -> Dict[str, Any]:
  """Label histograms per split and, with a model, its quality on the eval split.

  Reuses what the run computed where it can: the ExampleGen's label counts (so the train split is
  not read again) and the ServingCheck's `classify` probabilities for the eval split (in
  `blessing_uri`, the run's InfraBlessing), predicting only when those are missing."""
  from components.lib.object_storage import enable_for
  enable_for(examples_uri, model_uri, blessing_uri)
  from components.serving_check import read_answers
  from tfx.dsl.io import fileio
  result: Dict[str, Any] = {'label_histograms': {}}
  if model_uri and not fileio.exists(f'{model_uri.rstrip("/")}/Format-Serving'):
    result['model_missing'] = model_uri  # deleted since the run: the rest of the report stands
    model_uri = None
  recorded = _label_counts(examples_uri)
  for split in (TRAIN_SPLIT, EVAL_SPLIT):
    if split == TRAIN_SPLIT and split in recorded:
      result['label_histograms'][split] = recorded[split]
      continue
    with tempfile.TemporaryFile() as pixels:
      labels, probabilities = _stream_eval(examples_uri, split, model_uri, blessing_uri, pixels)
      result['label_histograms'][split] = quality.label_histogram(labels)
      if probabilities is not None:
        images = _images_on_disk(pixels, len(labels))
        result.update(quality.model_quality(images, labels, probabilities))
  return result


def _stream_eval(examples_uri: str, split: str, model_uri: Optional[str], blessing_uri: Optional[str],
                 pixels) -> Tuple[np.ndarray, Optional[np.ndarray]]:
  """(labels, the model's probabilities or None) of a split, read batch by batch: the images go
  to the file `pixels` (the report shows a few of them), never all into memory. On the eval split
  with a model, the ServingCheck's answers are taken when they answer these very labels, else
  the model is asked batch by batch."""
  from components.serving_check import read_answers
  answers = read_answers(blessing_uri) if split == EVAL_SPLIT and model_uri else None
  judged = split == EVAL_SPLIT and model_uri
  classify, labels, predicted = None, [], []
  for images, batch_labels in _split_batches(examples_uri, split):
    labels.append(batch_labels)
    if judged:
      pixels.write(images.tobytes())
    if judged and answers is None:
      classify = classify or _load_classify(model_uri)
      predicted.append(_classify(classify, images))
  labels = np.concatenate(labels) if labels else np.zeros((0,), np.int64)
  if not judged or not len(labels):
    return labels, None
  if answers is not None and np.array_equal(answers[0], labels):
    return labels, answers[1]
  if answers is not None:  # a serving check that answered other examples: ask the model
    return labels, predict_from_disk(model_uri, pixels, len(labels))
  return labels, np.concatenate(predicted)


def _images_on_disk(pixels, count: int) -> np.ndarray:
  """The images written to `pixels`, mapped read-only: only those looked at are read."""
  pixels.flush()
  if not count:
    return np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
  return np.memmap(pixels, np.uint8, 'r', shape=(count, IMAGE_SIZE, IMAGE_SIZE))


def predict_from_disk(model_uri: str, pixels, count: int) -> np.ndarray:
  images, classify = _images_on_disk(pixels, count), _load_classify(model_uri)
  return np.concatenate([_classify(classify, np.array(images[i:i + 10000]))
                         for i in range(0, count, 10000)] or [np.zeros((0, NUM_CLASSES))])


# --- data statistics: MnistExampleGen's image_stats.json, the schemas, the anomalies ---

VALIDATION_NODES = ('ImportSchemaGen', 'SchemaGen', 'ExampleValidator')


def _read_text(uri: str) -> Optional[str]:
  from tfx.dsl.io import fileio
  if not fileio.exists(uri):
    return None
  with fileio.open(uri, 'r') as f:
    text = f.read()
  return text.decode() if isinstance(text, bytes) else text


def _validation_outputs(store, run) -> Dict[str, Any]:
  """This run's ImportSchemaGen / SchemaGen schema and ExampleValidator anomalies artifacts."""
  found = {}
  for execution in store.get_executions_by_context(run.id):
    node = runs.node_id(store, execution.id)
    if node in VALIDATION_NODES:
      for artifact in runs.artifacts_of(store, execution.id):
        found[node] = artifact
  return found


def _anomalies(anomalies_uri: str) -> List[str]:
  from components import data_validation
  found = []
  for split in (TRAIN_SPLIT, EVAL_SPLIT):
    for file_name, what in (('SchemaDiff.pb', f'split {split}'),
                            (data_validation.SKEW_FILE, f'split {split} vs {TRAIN_SPLIT} (skew)')):
      anomalies = data_validation.read_anomalies(anomalies_uri, split, file_name)
      if anomalies is not None:
        found += [f'{what}: {phrase}' for phrase in data_validation.describe(anomalies)]
  return found


def data_statistics(store, run, examples) -> Optional[Dict[str, Any]]:
  """Per split label counts, mean image per class and pixel histogram (ExampleGen's
  image_stats.json), the anomalies and both schemas; None for runs that recorded none of them
  (older runs)."""
  from components import mnist_example_gen
  result: Dict[str, Any] = {}
  text = _read_text(f'{examples.uri.rstrip("/")}/{mnist_example_gen.IMAGE_STATS_FILE}')
  if text:
    stats = json.loads(text)
    result.update(dataset=stats.get('dataset'), class_names=stats.get('class_names'),
                  splits=stats.get('splits', {}))
  outputs = _validation_outputs(store, run)
  if 'ExampleValidator' in outputs:
    result['anomalies'] = _anomalies(outputs['ExampleValidator'].uri)
  for node, key in (('ImportSchemaGen', 'schema'), ('SchemaGen', 'inferred_schema')):
    if node in outputs:
      schema = _read_text(f'{outputs[node].uri.rstrip("/")}/schema.pbtxt')
      if schema is not None:
        result[key] = schema
  return result or None


def read_serving_check(uri: Optional[str]) -> Optional[Dict[str, Any]]:
  from components.serving_check import read_result
  try:
    return read_result(uri)
  except Exception as e:  # pylint: disable=broad-except  # the rest of the report still helps
    return {'unreadable': f'{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}'}


def collect(store, run, summary: Optional[runs.RunSummary] = None) -> Dict[str, Any]:
  """Everything the report shows, as plain numbers (JSON-serializable)."""
  summary = summary or runs.summarize_run(store, run)
  report: Dict[str, Any] = {'run_id': run.name, 'summary': summary.to_json()}
  history = read_history(summary.uris.get('ModelRun'))
  if history:
    report['history'] = history
  examples_id = summary.artifacts.get('Examples')
  if examples_id is not None:
    [examples] = store.get_artifacts_by_id([examples_id])
    report['data'] = lineage.artifact_properties(store, examples)
    dataset = mlmd.custom_value(examples, 'dataset')
    if dataset:
      report['data'] = {'dataset': dataset, **report['data']}
    report.update(model_quality(examples.uri, summary.model_uri, summary.uris.get('InfraBlessing')))
    statistics = data_statistics(store, run, examples)
    if statistics:
      report['data_statistics'] = statistics
  evaluator = [e for e in store.get_executions_by_context(run.id)
               if runs.node_id(store, e.id) == 'Evaluator']
  details = lineage.evaluation_details(store, evaluator[0]) if evaluator else {}
  if details:
    report['gate'] = {k: details.get(k) for k in GATE_KEYS}
  serving_check = read_serving_check(summary.uris.get('InfraBlessing'))
  if serving_check:
    report['serving_check'] = serving_check
  return report


def report_path(output_dir: str, run_id: str) -> str:
  from pipeline.config import LocalPaths
  return os.path.join(LocalPaths.under(output_dir).reports_dir, re.sub(r'[^0-9A-Za-z._-]', '-', run_id),
                      'report.html')


TRY_EXAMPLES = 5


def write_try_examples(store, summary: runs.RunSummary, output_dir: str) -> Tuple[Optional[str], str]:
  """The first eval examples of the run's own data, as the .npy `predict` and `classify` take
  ([N, 28, 28] float32 in [0, 1]), beside the run's report; (path, their true labels) or (None, '')."""
  if 'Examples' not in summary.artifacts:
    return None, ''
  [examples] = store.get_artifacts_by_id([summary.artifacts['Examples']])
  images, labels = read_split(examples.uri, EVAL_SPLIT, limit=TRY_EXAMPLES)
  if not len(labels):
    return None, ''
  names = json.loads(mlmd.custom_value(examples, 'class_names') or 'null')
  path = os.path.join(os.path.dirname(report_path(output_dir, summary.run_id)), 'examples.npy')
  os.makedirs(os.path.dirname(path), exist_ok=True)
  np.save(path, (images[:TRY_EXAMPLES] / 255.0).astype(np.float32))
  shown = [str(names[i]) if names and str(names[i]) != str(i) else str(i) for i in labels[:TRY_EXAMPLES]]
  return path, ', '.join(shown)


def write_report(store, run, output_dir: str, summary: Optional[runs.RunSummary] = None) -> str:
  """The run's report, and the output dir's index.html listing every run (write_index)."""
  path = report_path(output_dir, run.name)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w') as f:
    f.write(report_html.render(collect(store, run, summary)))
  write_index(store, output_dir)
  return path


def index_path(output_dir: str) -> str:
  return os.path.join(os.path.abspath(output_dir), 'index.html')


def write_index(store, output_dir: str) -> str:
  """<output dir>/index.html: every run in the store, newest first, with its accuracy, key
  settings, verdicts and a link to its report (where this output dir has one)."""
  rows = []
  for context in runs.runs(store):
    summary = runs.summarize_run(store, context).to_json()
    report = report_path(output_dir, context.name)
    summary['report'] = (os.path.relpath(report, os.path.dirname(index_path(output_dir)))
                         if os.path.exists(report) else None)
    rows.append(summary)
  path = index_path(output_dir)
  with open(path, 'w') as f:
    f.write(report_html.render_index(rows))
  return path
