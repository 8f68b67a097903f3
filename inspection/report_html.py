"""The HTML run report, rendered from the report's data alone (pure: no ML Metadata, no files).

One self-contained page: the gate decision, how the model was made (every setting, the library
versions, the git commit, the machine, the times), the serving check, training curves, the
eval-split confusion matrix, per-class accuracy, the most confident mistakes, the data statistics
(labels once, schemas collapsed), component timings and a lineage summary. Charts are matplotlib
SVG (charts.py). The numbers are also embedded as JSON (id="report-data") for scripts and tests.
render_index() is the output dir's index.html of every run.

The page itself is Jinja2 templates (templates/): whoever changes what the page says or how it
looks edits HTML, not Python string assembly. This module only turns the report into plain
values (numbers formatted, charts drawn); the templates escape every value from the run, and
StrictUndefined makes a value they ask for and are not given an error, not an empty cell.
"""

from typing import Any, Dict, List, Optional

import jinja2
import markupsafe
import numpy as np

from inspection import charts, quality
from inspection.settings import key_settings

TEMPLATES = jinja2.Environment(
  loader=jinja2.PackageLoader('inspection', 'templates'),
  autoescape=jinja2.select_autoescape(['html'], default_for_string=True, default=True),
  undefined=jinja2.StrictUndefined,
  trim_blocks=True,
  lstrip_blocks=True,
)
# The embedded JSON goes through tojson: it escapes <, >, & (and ') as \u003c etc., so no value
# can end its <script>. Unsorted keys: the report's order, byte for byte as before the templates.
TEMPLATES.policies['json.dumps_kwargs'] = {}


def _fixed(value: Optional[float], digits: int = 4) -> str:
  return '–' if value is None else f'{value:.{digits}f}'


def _name(names: List[str], i: int) -> str:
  return str(names[i]) if i < len(names) else str(i)


def _named(names: List[str], i: int) -> str:
  """'3' for digits, '9 Ankle boot' for a data set whose classes have names."""
  name = _name(names, i)
  return name if name == str(i) else f'{i} {name}'


def _settings_value(value: Any) -> str:
  if value is None:
    return '–'
  if isinstance(value, float):
    return f'{value:g}'
  return str(value)


def _made(provenance: Dict[str, Any]) -> Dict[str, Any]:
  """The versions, the commit, the machine and the total time, where recorded."""
  commit = provenance.get('git_commit')
  machine = provenance.get('machine') or {}
  total = provenance.get('total_seconds')
  return {
    'recorded': bool(provenance),
    'versions': [
      (name, str(version)) for name, version in (provenance.get('versions') or {}).items()
    ],
    'commit': commit or None,
    'dirty': bool(commit and commit.endswith('(dirty)')),
    'machine': (
      f'{machine.get("host")}, {machine.get("platform")}, {machine.get("cpus")} CPUs'
      if machine
      else None
    ),
    'total': None if total is None else f'{total:.0f} s',
  }


def _gate(gate: Dict[str, Any], accuracy: Optional[float]) -> Dict[str, Any]:
  """The Evaluator's two tests as the page words them; the baseline one only when it ran."""
  base, change = gate.get('baseline_accuracy'), gate.get('change_threshold')
  if not gate:
    baseline = None
  elif change and base is not None and accuracy is not None:
    baseline = (
      f'baseline {base:.4f}, change {accuracy - base:+.4f} (must be ≥ {change["absolute"]})'
    )
  else:
    baseline = 'no blessed model yet: not applied'
  bound = gate.get('accuracy_threshold')
  return {
    'bound': None if bound is None else f'{_fixed(accuracy)} ≥ {bound}',
    'baseline': baseline,
    'failures': list(gate.get('failures') or []),
  }


def _serving_check(check: Dict[str, Any]) -> Dict[str, Any]:
  """The ServingCheck's verdict and numbers (components/serving_check.py wrote them); only the
  verdict and reasons when it failed with an error."""
  result = {
    'unreadable': check.get('unreadable'),
    'passed': bool(check.get('passed')),
    'reasons': list(check.get('reasons') or []),
    'rows': None,
    'latency': [],
    'bound': '',
  }
  if check.get('unreadable') or check.get('error'):
    return result
  result['rows'] = [
    ('signatures', ', '.join(check.get('signatures', []))),
    ('TF Serving warmup requests replayed', str(check.get('warmup_requests'))),
    (
      'eval examples answered',
      f'{check.get("examples")} (Evaluator: {check.get("evaluator_examples")})',
    ),
    (
      'classify vs serving_default',
      f'{check.get("disagreements")} disagreements, probabilities '
      f'within {check.get("max_probability_difference", 0):.1e}',
    ),
    (
      'accuracy through classify',
      f'{check.get("accuracy_classify", 0):.4f} (Evaluator: '
      f'{check.get("evaluator_accuracy") or 0:.4f})',
    ),
    ('refused', ', '.join(check.get('refused', [])) or 'nothing'),
    ('load time', f'{check.get("load_seconds", 0):.2f} s'),
  ]
  result['latency'] = [
    (
      size,
      f'{numbers["p50_ms"]:.2f}',
      f'{numbers["p99_ms"]:.2f}',
      f'{numbers["examples_per_second"]:,.0f}',
    )
    for size, numbers in sorted(check.get('latency', {}).items(), key=lambda kv: int(kv[0]))
  ]
  result['bound'] = f'{check.get("max_latency_ms", 0):g}'
  return result


def _label_shares(per_split: Dict[str, List[int]], names: List[str]) -> markupsafe.Markup:
  """Each split's label distribution as shares (splits differ in size), one bar group per class."""
  shares = {
    f'{split} ({sum(counts)})': [100 * c / (sum(counts) or 1) for c in counts]
    for split, counts in per_split.items()
    if counts
  }
  categories = [_named(names, i) for i in range(len(names))]
  return markupsafe.Markup(
    charts.bar_chart('labels per split', categories, shares, y_label='% of the split')
  )


def _mean_image(names: List[str], i: int, mean: Optional[List[float]]) -> Dict[str, Any]:
  if mean is None:
    return {'caption': _named(names, i), 'png': None, 'alt': ''}
  image = np.clip(np.round(np.array(mean, np.float64)), 0, 255).astype(np.uint8).reshape(28, 28)
  return {'caption': _named(names, i), 'png': quality.png(image), 'alt': f'mean {_name(names, i)}'}


def _data_statistics(stats: Dict[str, Any]) -> Dict[str, Any]:
  """Label distribution per split, mean image per class, pixel histogram, anomalies, and the
  checked-in schema beside SchemaGen's inferred one."""
  splits = stats.get('splits') or {}
  counts = {split: values.get('label_counts') or [] for split, values in splits.items()}
  names = [
    str(n)
    for n in stats.get('class_names') or range(max((len(c) for c in counts.values()), default=0))
  ]
  labels = []
  for i, name in enumerate(names):
    cells = []
    for split_counts in counts.values():
      count = split_counts[i] if i < len(split_counts) else 0
      cells.append(f'{count} ({100 * count / (sum(split_counts) or 1):.1f} %)')
    labels.append((i, name, cells))
  schemas = [
    (caption, stats[key])
    for key, caption in (
      ('schema', 'checked in, validated against: components/schema/schema.pbtxt'),
      ('inferred_schema', 'inferred by SchemaGen'),
    )
    if stats.get(key)
  ]
  return {
    'dataset': stats.get('dataset'),
    'splits': list(splits),
    'labels': labels,
    'label_shares': _label_shares(counts, names) if splits else None,
    'mean_images': [
      (
        split,
        [_mean_image(names, i, mean) for i, mean in enumerate(values.get('mean_images') or [])],
      )
      for split, values in splits.items()
    ],
    'pixel_histograms': [
      markupsafe.Markup(
        charts.histogram(
          f'{split}: pixel intensities (log scale)',
          values['pixel_histogram'],
          x_label='intensity (0-255)',
        )
      )
      for split, values in splits.items()
      if values.get('pixel_histogram')
    ],
    'anomalies': stats.get('anomalies'),
    'schemas': schemas,
  }


def _confusion(report: Dict[str, Any]) -> Optional[Dict[str, Any]]:
  """The heatmap and the per-class accuracy table, the classes named as the data set names them."""
  if 'confusion_matrix' not in report:
    return None
  matrix = report['confusion_matrix']
  names = (report.get('data_statistics') or {}).get('class_names') or [
    str(i) for i in range(len(matrix))
  ]
  labels = [_named(names, i) for i in range(len(matrix))]
  return {
    'accuracy': _fixed(report['eval_accuracy']),
    'heatmap': markupsafe.Markup(charts.confusion_matrix(matrix, labels)),
    'per_class': [
      (_named(names, i), _fixed(a)) for i, a in enumerate(report['per_class_accuracy'])
    ],
  }


def _training(history: Optional[Dict[str, List[float]]]) -> Optional[List[markupsafe.Markup]]:
  if not history:
    return None
  return [
    markupsafe.Markup(
      charts.line_chart(
        name,
        {'train': history.get(name, []), 'validation': history.get(f'val_{name}', [])},
        y_label=name,
      )
    )
    for name in ('loss', 'accuracy')
  ]


def _lone_label_histograms(report: Dict[str, Any]) -> Optional[markupsafe.Markup]:
  """The label histograms when the data statistics do not show label counts (older runs)."""
  splits = (report.get('data_statistics') or {}).get('splits') or {}
  histograms = report.get('label_histograms')
  if not histograms or any((values or {}).get('label_counts') for values in splits.values()):
    return None
  classes = max(len(counts) for counts in histograms.values())
  return _label_shares(histograms, [str(i) for i in range(classes)])


def _embedded(report: Dict[str, Any]) -> Dict[str, Any]:
  """The report's numbers for scripts: all of it but the mistakes' pictures."""
  data = {k: v for k, v in report.items() if k != 'mistakes'}
  data['mistakes'] = [
    {k: v for k, v in m.items() if k != 'png'} for m in report.get('mistakes') or []
  ]
  return data


def report_context(report: Dict[str, Any]) -> Dict[str, Any]:
  """What templates/report.html shows, as plain values."""
  s = report['summary']
  mistakes = report.get('mistakes')
  statistics = report.get('data_statistics')
  total = (s.get('provenance') or {}).get('total_seconds')
  return {
    'run_id': report['run_id'],
    'started': s.get('started') or '',
    'accuracy': _fixed(s.get('accuracy')),
    'blessed': bool(s.get('blessed')),
    'pushed_version': s.get('pushed_version'),
    'pushed_dir': s.get('pushed_dir'),
    'already_serving': s.get('already_serving'),
    'settings': [(k, _settings_value(v)) for k, v in (s.get('settings') or {}).items()],
    'made': _made(s.get('provenance') or {}),
    'gate': _gate(report.get('gate') or {}, s.get('accuracy')),
    'serving_check': _serving_check(report['serving_check'])
    if report.get('serving_check')
    else None,
    'training': _training(report.get('history')),
    'confusion': _confusion(report),
    'model_missing': report.get('model_missing'),
    'mistakes': None
    if mistakes is None
    else [{**m, 'probability': f'{m["probability"]:.3f}'} for m in mistakes],
    'label_histograms': _lone_label_histograms(report),
    'statistics': _data_statistics(statistics) if statistics else None,
    'components': [
      (node, state, f'{s["component_seconds"].get(node, 0):.1f}')
      for node, state in s['component_states'].items()
    ],
    'total_seconds': _fixed(total, 1),
    'lineage': [(key, str(value)) for key, value in (report.get('data') or {}).items()]
    + [(f'{kind} #{s["artifacts"][kind]}', uri) for kind, uri in s['uris'].items()],
    'data': _embedded(report),
  }


def render(report: Dict[str, Any]) -> str:
  return TEMPLATES.get_template('report.html').render(report_context(report))


def index_context(summaries: List[Dict[str, Any]]) -> Dict[str, Any]:
  """What templates/index.html shows: one row per run."""
  rows = []
  for s in summaries:
    commit = (s.get('provenance') or {}).get('git_commit') or '–'
    pushed = s.get('pushed_version') or (
      f'{s["already_serving"]} (already)' if s.get('already_serving') else '–'
    )
    rows.append(
      {
        'run_id': s['run_id'],
        'state': s.get('state') or '–',
        'accuracy': _fixed(s.get('accuracy')),
        'blessed': s.get('blessed'),
        'pushed': str(pushed),
        'settings': key_settings(s.get('settings') or {}),
        'commit': commit[:12] + (' (dirty)' if commit.endswith('(dirty)') else ''),
        'report': s.get('report'),
      }
    )
  return {'runs': rows}


def render_index(summaries: List[Dict[str, Any]]) -> str:
  """The output dir's index.html: one row per run (RunSummary.to_json() plus 'report', a
  relative link or None), newest first."""
  return TEMPLATES.get_template('index.html').render(index_context(summaries))
