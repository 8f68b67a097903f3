"""report_html: the report page from the report's data alone (pure; no store, no files)."""

import copy
import html
import json
import re
from html.parser import HTMLParser

import jinja2
import markupsafe
import numpy as np
import pytest

from inspection import charts, quality, report_html
from inspection.runs import RunSummary

INLINE = {'b', 'span', 'code'}  # no word break around them
VOID = {'meta', 'img', 'br', 'rect', 'circle', 'polyline'}  # no closing tag needed (or self-closed)


class _Checker(HTMLParser):
  """Tags nest and close; collects the text and the embedded JSON."""

  def __init__(self):
    super().__init__()
    self.stack, self.text, self.json = [], [], None

  def handle_starttag(self, tag, attrs):
    if tag not in INLINE:
      self.text.append(' ')
    if tag not in VOID:
      self.stack.append(tag)

  def handle_startendtag(self, tag, attrs):
    pass

  def handle_endtag(self, tag):
    if tag not in INLINE:
      self.text.append(' ')
    if tag in VOID:
      return
    assert self.stack and self.stack[-1] == tag, f'</{tag}> closes {self.stack[-1:]}'
    self.stack.pop()

  def handle_data(self, data):
    if self.stack and self.stack[-1] == 'script':
      self.json = json.loads(data)
    else:
      self.text.append(data)


def _checked(page):
  checker = _Checker()
  checker.feed(page)
  checker.close()
  assert checker.stack == [], f'unclosed: {checker.stack}'
  return page, ' '.join(''.join(checker.text).split()), checker.json


def _page(report):
  return _checked(report_html.render(report))


def _report(
  blessed=True, baseline=None, accuracy=0.9912, failures=(), run_id='2026-11-27T01:13:38'
):
  summary = RunSummary(
    run_id=run_id,
    started='2026-11-27T01:13:38',
    accuracy=accuracy,
    baseline_accuracy=baseline,
    blessed=blessed,
    failures=list(failures),
    component_states={'MnistExampleGen': 'COMPLETE', 'Trainer': 'COMPLETE'},
    component_seconds={'MnistExampleGen': 1.4, 'Trainer': 40.2},
    artifacts={'Model': 3},
    uris={'Model': '/out/pipeline_root/Trainer/model/3'},
  )
  if blessed:
    summary.pushed_version, summary.pushed_dir = '1795742029', '/out/serving/1795742029'
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 10, 200)
  probabilities = rng.dirichlet(np.ones(10), 200)
  images = rng.integers(0, 256, (200, 28, 28), dtype=np.uint8)
  data = {
    'run_id': run_id,
    'summary': summary.to_json(),
    'history': {
      'loss': [0.3, 0.1],
      'val_loss': [0.2, 0.15],
      'accuracy': [0.9, 0.97],
      'val_accuracy': [0.95, 0.96],
    },
    'data': {'sha256_train_images': 'ba89' * 16, 'train_examples': 3000},
    'label_histograms': {
      'train': quality.label_histogram(labels),
      'eval': quality.label_histogram(labels[:50]),
    },
    'gate': {
      'accuracy_threshold': 0.99,
      'accuracy': accuracy,
      'baseline_accuracy': baseline,
      'failures': list(failures),
      'change_threshold': None
      if baseline is None
      else {'absolute': -1e-10, 'direction': 'HIGHER_IS_BETTER'},
    },
  }
  data.update(quality.model_quality(images, labels, probabilities, mistakes_shown=6))
  return data


def test_a_blessed_first_run():
  report = _report()
  page, text, embedded = _page(report)
  assert (
    'Test accuracy 0.9912; blessed; pushed as version 1795742029 to /out/serving/1795742029.'
    in text
  )
  assert 'accuracy ≥ bound 0.9912 ≥ 0.99' in text
  assert 'no worse than the last blessed model no blessed model yet: not applied' in text
  assert (
    page.count('<svg') == 4
  )  # loss, accuracy, confusion matrix, the label shares of both splits
  assert page.count('<g id="cell-') == 100  # the confusion matrix: one cell per entry
  assert page.count('data:image/png;base64,') == len(report['mistakes']) == 6
  assert (
    'http://' not in page.replace('http://www.w3.org', '') and 'https://' not in page
  )  # self-contained
  # The embedded numbers are the report's, less the pictures.
  assert embedded['confusion_matrix'] == report['confusion_matrix']
  assert embedded['gate'] == report['gate'] and embedded['summary'] == report['summary']
  assert set(embedded) == set(report)
  assert [m.get('png') for m in embedded['mistakes']] == [None] * 6


def test_it_says_how_the_model_was_made():
  report = _report()
  report['summary']['settings'] = {
    'dataset': 'mnist',
    'epochs': 18,
    'learning_rate': 0.001,
    'seed': None,
  }
  report['summary']['provenance'] = {
    'versions': {
      'TensorFlow': '2.16.2',
      'TFX': '1.16.0',
      'Beam': '2.60.0',
      'TFMA': '0.47.1',
      'MLMD': '1.16.0',
    },
    'git_commit': '6e60a7a0 (dirty)',
    'machine': {'host': 'h', 'platform': 'Linux-x', 'cpus': 2},
    'total_seconds': 312.4,
  }
  _, text, _ = _page(report)
  for shown in (
    'dataset mnist',
    'epochs 18',
    'learning_rate 0.001',
    'seed –',
    'TensorFlow 2.16.2',
    'TFX 1.16.0',
    'Beam 2.60.0',
    'TFMA 0.47.1',
    'MLMD 1.16.0',
    'git commit 6e60a7a0 (dirty) uncommitted changes',
    'machine h, Linux-x, 2 CPUs',
    'total time 312 s',
    'Trainer COMPLETE 40.2 total 312.4',
  ):
    assert shown in text, shown
  _, text, _ = _page(_report())
  assert 'settings not recorded' in text and 'not recorded for this run' in text


def test_charts_have_axes_ticks_and_a_legend_off_the_plot():
  page, _, _ = _page(_report())
  chart = re.search(r'<svg class="chart".*?</svg>', page, re.S).group(0)  # the loss chart
  assert '>epoch<' in chart and '>loss<' in chart  # axis labels
  assert (
    len(re.findall(r'id="xtick_\d+"', chart)) >= 2
    and len(re.findall(r'id="ytick_\d+"', chart)) >= 3
  )
  assert '>train<' in chart and '>validation<' in chart and 'id="legend_1"' in chart


def test_a_run_refused_against_a_baseline_says_why():
  failure = (
    'sparse_categorical_accuracy changed by -0.0010 against the last blessed model '
    '(must not get worse)'
  )
  _, text, _ = _page(_report(blessed=False, baseline=0.9922, failures=[failure]))
  assert 'not blessed; nothing pushed' in text
  assert 'baseline 0.9922, change -0.0010 (must be ≥ -1e-10)' in text
  assert f'failed {failure}' in text


def test_whatever_is_missing_is_left_out_not_an_error():
  report = _report()
  for key in (
    'history',
    'confusion_matrix',
    'per_class_accuracy',
    'mistakes',
    'eval_accuracy',
    'gate',
  ):
    del report[key]
  report['model_missing'] = '/gone/model'
  page, text, _ = _page(report)
  assert page.count('<svg') == 1  # the label shares only
  assert 'Gate decision' in text and 'no worse than' not in text
  assert 'The model is no longer at /gone/model' in text
  minimal = {'run_id': 'r', 'summary': RunSummary(run_id='r').to_json()}
  _, text, embedded = _page(minimal)
  assert 'Test accuracy –; not blessed; nothing pushed.' in text and embedded['mistakes'] == []


HOSTILE = [
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  '</script><b>x</b>',
  "' onmouseover='alert(1)",
]


@pytest.mark.parametrize('hostile', HOSTILE)
def test_text_from_the_store_is_escaped(hostile):
  report = _report(blessed=False, failures=[hostile], run_id=hostile)
  report['data']['source_uri'] = hostile
  report['summary']['settings'] = {'data_dir': hostile}
  report['data_statistics'] = {'anomalies': [f'split eval: {hostile}'], 'schema': hostile}
  page, text, embedded = _page(report)  # the checker would trip on an injected tag
  assert hostile not in page
  assert text.count(hostile) >= 3 and embedded['run_id'] == hostile
  assert re.findall(r'<script[^>]*>', page) == ['<script type="application/json" id="report-data">']
  assert html.unescape(page).count(hostile) >= 4
  # Shown as text where it belongs: the run id, a setting, a gate failure, an anomaly, the schema.
  for shown in (
    f'MNIST TFX pipeline — run {hostile}',
    f'data_dir {hostile}',
    f'failed {hostile}',
    f'Anomalies split eval: {hostile}',
    f'checked in, validated against: components/schema/schema.pbtxt {hostile}',
    f'source_uri {hostile}',
  ):
    assert shown in text, shown
  # The embedded JSON escapes what could end its element, and reads back the same.
  raw = re.search(r'id="report-data">(.*?)</script>', page, re.S).group(1)
  assert '<' not in raw and '>' not in raw and '&' not in raw
  assert embedded['summary']['settings'] == {'data_dir': hostile}


@pytest.mark.parametrize('hostile', HOSTILE)
def test_the_index_escapes_text_from_the_store(hostile):
  summary = RunSummary(run_id=hostile, state=hostile).to_json()
  summary.update(settings={'dataset': hostile}, report=hostile, provenance={'git_commit': hostile})
  page, text, _ = _checked(report_html.render_index([summary]))
  assert hostile not in page
  assert f'{hostile} {hostile}' in text  # run id, state
  assert f'href="{markupsafe.escape(hostile)}"' in page


def test_the_index_has_a_row_per_run():
  def run(run_id, **fields):
    return {**RunSummary(run_id=run_id).to_json(), 'report': None, **fields}

  page, text, _ = _checked(
    report_html.render_index(
      [
        run('r3', state='running'),
        run(
          'r2',
          state='complete',
          accuracy=0.9871,
          blessed=False,
          already_serving='17',
          settings={'dataset': 'mnist', 'epochs': 2, 'learning_rate': 0.001},
          provenance={'git_commit': '6e60a7a0f1e2d3c4b5a6 (dirty)'},
        ),
        run(
          'r1',
          state='complete',
          accuracy=0.99123,
          blessed=True,
          pushed_version='1795742029',
          report='reports/r1/report.html',
        ),
      ]
    )
  )
  assert 'run state test accuracy blessed pushed key settings commit report' in text
  assert text.count(' r3 ') + text.count(' r2 ') + text.count(' r1 ') == 3
  assert 'r3 running – – – - – none (see `report RUN`)' in text
  assert (
    'r2 complete 0.9871 no 17 (already) mnist epochs=2 lr=0.001 6e60a7a0f1e2 (dirty) none'
  ) in text
  assert 'r1 complete 0.9912 yes 1795742029 - – report' in text
  assert '<a href="reports/r1/report.html">report</a>' in page


def test_a_value_the_template_is_not_given_is_an_error():
  """StrictUndefined: a key the templates ask for and the context lacks fails the render, at the
  top level or inside a section, instead of leaving an empty cell."""
  template = report_html.TEMPLATES.get_template('report.html')
  report = _report()
  report['serving_check'] = SERVING_CHECK
  complete = report_html.report_context(report)
  template.render(complete)
  for section, key in (
    (None, 'accuracy'),
    ('made', 'machine'),
    ('gate', 'baseline'),
    ('serving_check', 'bound'),
    ('confusion', 'heatmap'),
  ):
    context = copy.deepcopy(complete)
    del (context[section] if section else context)[key]
    with pytest.raises(jinja2.UndefinedError):
      template.render(context)
  context = report_html.index_context([RunSummary(run_id='r').to_json()])
  del context['runs'][0]['commit']
  with pytest.raises(jinja2.UndefinedError):
    report_html.TEMPLATES.get_template('index.html').render(context)


FASHION = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
]


def _cells(svg):
  """{(true, predicted): (x, y)} of each cell's top-left corner."""
  return {
    (int(i), int(j)): (float(x), float(y))
    for i, j, x, y in re.findall(
      r'<g id="cell-(\d+)-(\d+)">.*?<path d="M ([\d.]+) ([\d.]+)', svg, re.S
    )
  }


def test_the_confusion_matrix_has_a_cell_and_its_count_per_entry():
  matrix = (np.arange(100) + 1000).reshape(10, 10).tolist()  # every count different
  names = [f'{i} {name}' for i, name in enumerate(FASHION)]
  svg = charts.confusion_matrix(matrix, names)
  cells = _cells(svg)
  assert sorted(cells) == [(i, j) for i in range(10) for j in range(10)]
  texts = re.findall(r'<text[^>]*>([^<]*)</text>', svg)
  assert sorted(int(t) for t in texts if t.isdigit()) == list(range(1000, 1100))
  # True classes are rows (top to bottom), predicted ones columns (left to right).
  assert cells[0, 1][0] > cells[0, 0][0] and cells[0, 1][1] == cells[0, 0][1]
  assert cells[1, 0][1] > cells[0, 0][1] and cells[1, 0][0] == cells[0, 0][0]
  assert '<title>true 3 Dress, predicted 5 Sandal: 1035</title>' in svg
  for label in names + ['predicted', 'true']:  # class names on both axes
    assert texts.count(label) == (1 if label in ('predicted', 'true') else 2), label


@pytest.mark.parametrize('classes', [2, 20, 100])
def test_the_confusion_matrix_of_2_to_100_classes(classes):
  rng = np.random.default_rng(classes)
  matrix = rng.integers(0, 50, (classes, classes)) + np.diag(rng.integers(500, 5000, classes))
  report = _report()
  report.update(
    confusion_matrix=matrix.tolist(), eval_accuracy=0.5, per_class_accuracy=[0.5] * classes
  )
  page, text, embedded = _page(report)
  heatmap = re.search(r'confusion matrix.*?(<svg.*?</svg>)', page, re.S).group(1)
  assert embedded['confusion_matrix'] == matrix.tolist()
  assert f'{classes - 1} 0.5000 Most confident mistakes' in text  # the per-class table
  texts = re.findall(r'<text[^>]*>([^<]*)</text>', heatmap)
  if classes <= charts.CELL_TEXT_MAX_CLASSES:
    assert len(_cells(heatmap)) == classes**2 and '<image' not in heatmap
    assert sorted(int(t) for t in texts if t.isdigit() and int(t) >= classes) == sorted(
      int(v) for v in matrix.flat if v >= classes
    )
  else:  # one image, no count in the cells, a labelled tick every few classes
    assert '<g id="cell-' not in heatmap and heatmap.count('<image') == 1
    assert sorted(set(texts) - {'predicted', 'true'}, key=int) == [str(i) for i in range(0, 100, 5)]


SERVING_CHECK = {
  'passed': True,
  'reasons': [],
  'signatures': ['classify', 'serving_default'],
  'warmup_requests': 4,
  'examples': 10000,
  'evaluator_examples': 10000,
  'disagreements': 0,
  'max_probability_difference': 1.8e-7,
  'accuracy_classify': 0.9949,
  'evaluator_accuracy': 0.9948999881744385,
  'refused': ['0-255 pixels', 'NaN pixels'],
  'load_seconds': 0.21,
  'max_latency_ms': 1000.0,
  'latency': {
    '1000': {'p50_ms': 72.7, 'p99_ms': 81.6, 'examples_per_second': 13486.1},
    '1': {'p50_ms': 0.825, 'p99_ms': 1.072, 'examples_per_second': 1206.4},
  },
}


def test_the_serving_check_section():
  report = _report()
  report['serving_check'] = SERVING_CHECK
  _, text, _ = _page(report)
  assert 'Serving check (fresh process, as a model server loads it) servable' in text
  assert 'eval examples answered 10000 (Evaluator: 10000)' in text
  assert 'classify vs serving_default 0 disagreements' in text
  assert 'accuracy through classify 0.9949 (Evaluator: 0.9949)' in text
  assert 'refused 0-255 pixels, NaN pixels' in text
  # Batches in size order: 1 before 1000, whatever order the JSON kept.
  assert text.index('1 0.82 1.07 1,206') < text.index('1000 72.70 81.60 13,486')
  assert 'Bound: one-image p99 ≤ 1000 ms.' in text


def test_a_failed_serving_check_names_its_reasons():
  report = _report()
  report['serving_check'] = dict(
    SERVING_CHECK,
    passed=False,
    reasons=['classify and serving_default disagree on 3 of 10000 eval examples'],
  )
  _, text, _ = _page(report)
  assert (
    'not servable: not pushed failed classify and serving_default disagree on 3 of 10000' in text
  )
  report['serving_check'] = {
    'passed': False,
    'error': 'OSError: no model',
    'reasons': ['the model did not load and answer in a fresh process: OSError: no model'],
  }
  _, text, _ = _page(report)
  assert 'failed the model did not load and answer in a fresh process: OSError: no model' in text
  assert 'eval examples answered' not in text
