"""The report's 'Data statistics' section: rendered from the report's data alone, read from the
recorded runs, and left out for runs that recorded no statistics. A real run's section is
checked end to end in tests/pipeline/test_datasets_e2e.py."""

import glob
import os
import re

from components.lib import datasets, names
from inspection import report, runs
from tests.inspection.test_report_html import _page, _report


def _statistics(anomalies=()):
  mean = [float(i % 256) for i in range(784)]
  return {
    'dataset': 'fashion-mnist',
    'class_names': list(datasets.FASHION_MNIST.class_names),
    'splits': {
      split: {
        'examples': 100,
        'label_counts': [10] * 10,
        'mean_images': [mean] * 9 + [None],
        'pixel_histogram': [5000] + [10] * 31,
      }
      for split in ('train', 'eval')
    },
    'anomalies': list(anomalies),
    'schema': 'feature {\n  name: "label"\n}',
    'inferred_schema': 'feature {\n  name: "image"\n}',
  }


def test_the_section_shows_labels_mean_images_histograms_anomalies_and_schemas():
  data = _report()
  data['data_statistics'] = _statistics()
  page, text, embedded = _page(data)
  assert 'Data statistics (fashion-mnist)' in text
  assert '9 Ankle boot 10 (10.0 %) 10 (10.0 %)' in text  # label, class, train, eval
  assert page.count('alt="mean ') == 2 * 9 and text.count('(no examples)') == 2
  assert (
    'train: pixel intensities (log scale)' in text and 'eval: pixel intensities (log scale)' in text
  )
  assert 'Anomalies none' in text
  assert 'name: &#34;label&#34;' in page and 'name: &#34;image&#34;' in page  # " escaped
  assert embedded['data_statistics']['dataset'] == 'fashion-mnist'
  assert re.search(r'class accuracy 0 T-shirt/top [\d.]+ 1 Trouser', text)  # per-class accuracy
  # The confusion matrix names the classes on both axes and in each cell's tooltip.
  heatmap = re.search(r'confusion matrix.*?(<svg.*?</svg>)', page, re.S).group(1)
  assert heatmap.count('>9 Ankle boot</text>') == 2
  assert re.search(r'<title>true 0 T-shirt/top, predicted 9 Ankle boot: \d+</title>', heatmap)
  # The label counts appear once (in this section), as a table and one chart of both splits.
  assert 'Labels per split' not in text and text.count('labels per split') == 1
  # The schemas are collapsed, each under its own summary line.
  assert re.search(r'<details><summary>checked in[^<]*</summary><pre[^>]*>feature \{', page)
  assert re.search(r'<details><summary>inferred by SchemaGen</summary><pre[^>]*>feature \{', page)


def test_anomalies_are_listed():
  data = _report()
  data['data_statistics'] = _statistics(['split eval: label: Unexpected value: 12 <b>'])
  page, text, _ = _page(data)
  assert 'Anomalies split eval: label: Unexpected value: 12 <b>' in text
  assert '12 &lt;b&gt;' in page


def _examples(store, run):
  [examples] = [
    a for a in store.get_artifacts_by_context(run.id) if runs.type_name(store, a) == 'Examples'
  ]
  return examples


class _OlderStore:
  """The recorded store as a run from before the data validation left it: no executions of
  the validation nodes."""

  def __init__(self, store):
    self._store = store

  def get_executions_by_context(self, context_id):
    return [
      e
      for e in self._store.get_executions_by_context(context_id)
      if runs.node_id(self._store, e.id) not in names.VALIDATION_NODES
    ]

  def __getattr__(self, name):
    return getattr(self._store, name)


def test_a_recorded_run_has_the_section_and_one_without_statistics_has_none(recorded):
  """The recording's run 1, as today's pipeline writes it: its statistics, anomalies and both
  schemas. The same run as one from before them recorded it (no validation, no image_stats.json):
  no section."""
  output_dir, store = recorded
  first_run = runs.runs(store)[1]
  data = report.collect(store, first_run)
  statistics = data['data_statistics']
  assert statistics['dataset'] == 'mnist' and statistics['anomalies'] == []
  assert {s: v['examples'] for s, v in statistics['splits'].items()} == {
    'train': 3000,
    'eval': 1000,
  }
  assert 'feature' in statistics['schema'] and 'feature' in statistics['inferred_schema']
  _, text, _ = _page(data)
  assert 'Data statistics (mnist)' in text and 'Anomalies none' in text
  for stats in glob.glob(
    os.path.join(output_dir, 'pipeline_root', names.EXAMPLE_GEN, '*', '*', names.IMAGE_STATS_FILE)
  ):
    os.remove(stats)
  assert report.data_statistics(store, first_run, _examples(store, first_run)).keys() == {
    'anomalies',
    'schema',
    'inferred_schema',
  }
  older = _OlderStore(store)  # a store whose runs had no data validation
  assert report.data_statistics(older, first_run, _examples(store, first_run)) is None
  data = report.collect(older, first_run)
  assert 'data_statistics' not in data
  _, text, _ = _page(data)
  assert 'Data statistics' not in text and 'Labels per split' in text
