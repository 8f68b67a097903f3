"""The HTML run report, rendered from the report's data alone (pure: no ML Metadata, no files).

One self-contained page: the gate decision, how the model was made (every setting, the library
versions, the git commit, the machine, the times), the serving check, training curves, the
eval-split confusion matrix, per-class accuracy, the most confident mistakes, the data statistics
(labels once, schemas collapsed), component timings and a lineage summary. Charts are matplotlib
SVG (charts.py). The numbers are also embedded as JSON (id="report-data") for scripts and tests.
render_index() is the output dir's index.html of every run.
"""
import html
import json
from typing import Any, Dict, List

import numpy as np

from inspection import charts
from trainer_module.features import NUM_CLASSES


# ----------------------------------------------------------------------------- SVG pictures


def _heatmap(matrix: List[List[int]], cell=34) -> str:
  m = np.array(matrix)
  size = cell * NUM_CLASSES
  left, top = 40, 40
  off_diagonal = m - np.diag(np.diag(m))
  worst = max(int(off_diagonal.max()), 1)
  parts = [f'<svg class="chart" width="{size + left + 10}" height="{size + top + 10}">',
           f'<text x="{left + size / 2}" y="14" text-anchor="middle" class="t">predicted →</text>',
           f'<text x="12" y="{top + size / 2}" class="t" transform="rotate(-90 12 {top + size / 2})" text-anchor="middle">true →</text>']
  for i in range(NUM_CLASSES):
    parts.append(f'<text x="{left + i * cell + cell / 2}" y="{top - 6}" text-anchor="middle" class="s">{i}</text>')
    parts.append(f'<text x="{left - 6}" y="{top + i * cell + cell / 2 + 4}" text-anchor="end" class="s">{i}</text>')
    for j in range(NUM_CLASSES):
      v = int(m[i, j])
      if i == j:
        fill = '#2ca02c'
      else:
        alpha = 0.08 + 0.92 * v / worst if v else 0
        fill = f'rgba(214,39,40,{alpha:.2f})' if v else '#fafafa'
      parts.append(f'<rect x="{left + j * cell}" y="{top + i * cell}" width="{cell - 1}" height="{cell - 1}" fill="{fill}"><title>true {i}, predicted {j}: {v}</title></rect>')
      parts.append(f'<text x="{left + j * cell + cell / 2}" y="{top + i * cell + cell / 2 + 4}" text-anchor="middle" class="c">{v}</text>')
  parts.append('</svg>')
  return ''.join(parts)


def _label_shares(title: str, per_split: Dict[str, List[int]], names: List[str]) -> str:
  """Each split's label distribution as shares (splits differ in size), one bar group per class."""
  shares = {f'{split} ({sum(counts)})': [100 * c / (sum(counts) or 1) for c in counts]
            for split, counts in per_split.items() if counts}
  categories = [str(i) if str(n) == str(i) else f'{i} {n}' for i, n in enumerate(names)]
  return charts.bar_chart(title, categories, shares, y_label='% of the split')


def _settings_value(value: Any) -> str:
  if value is None:
    return '–'
  if isinstance(value, float):
    return f'{value:g}'
  return str(value)


def _how_it_was_made(s: Dict[str, Any]) -> List[str]:
  """Every setting the components ran with, the versions, the commit, the machine, the time."""
  e = html.escape
  out = ['<h2>How this model was made</h2><div class="grid"><table><tr><th colspan="2">settings</th></tr>']
  settings = s.get('settings') or {}
  out.extend(f'<tr><td>{e(k)}</td><td><code>{e(_settings_value(v))}</code></td></tr>' for k, v in settings.items())
  if not settings:
    out.append('<tr><td colspan="2">not recorded</td></tr>')
  out.append('</table><table><tr><th colspan="2">made with</th></tr>')
  made = s.get('provenance') or {}
  for name, version in (made.get('versions') or {}).items():
    out.append(f'<tr><td>{e(name)}</td><td>{e(str(version))}</td></tr>')
  commit = made.get('git_commit')
  if commit:
    dirty = commit.endswith('(dirty)')
    out.append(f'<tr><td>git commit</td><td><code>{e(commit)}</code>'
               + (' <span class="bad">uncommitted changes</span>' if dirty else '') + '</td></tr>')
  machine = made.get('machine') or {}
  if machine:
    out.append(f'<tr><td>machine</td><td>{e(str(machine.get("host")))}, {e(str(machine.get("platform")))}, '
               f'{e(str(machine.get("cpus")))} CPUs</td></tr>')
  if made.get('total_seconds') is not None:
    out.append(f'<tr><td>total time</td><td>{made["total_seconds"]:.0f} s</td></tr>')
  if not made:
    out.append('<tr><td colspan="2">not recorded for this run (recorded by local runs when they end)</td></tr>')
  out.append('</table></div>')
  return out


def _data_statistics(stats: Dict[str, Any]) -> List[str]:
  """The 'Data statistics' section: label distribution per split, mean image per class, pixel
  histogram, anomalies, and the checked-in schema beside SchemaGen's inferred one."""
  from inspection import quality
  e = html.escape
  names = stats.get('class_names') or [str(i) for i in range(NUM_CLASSES)]
  splits = stats.get('splits') or {}
  title = f' ({e(str(stats["dataset"]))})' if stats.get('dataset') else ''
  out = [f'<h2>Data statistics{title}</h2>']

  def named(i):  # '3' for digits, '9 Ankle boot' otherwise
    return str(i) if str(names[i]) == str(i) else f'{i} {names[i]}'
  if splits:
    header = ''.join(f'<th>{e(split)}</th>' for split in splits)
    out.append(f'<table><tr><th>label</th><th>class</th>{header}</tr>')
    for i, name in enumerate(names):
      cells = ''
      for split in splits.values():
        counts = split.get('label_counts') or []
        total = sum(counts) or 1
        count = counts[i] if i < len(counts) else 0
        cells += f'<td>{count} ({100 * count / total:.1f} %)</td>'
      out.append(f'<tr><td>{i}</td><td>{e(str(name))}</td>{cells}</tr>')
    out.append('</table>')
    label_counts = {split: values.get('label_counts') for split, values in splits.items()}
    out.append(_label_shares('labels per split', label_counts, names))
    for split, values in splits.items():
      out.append(f'<h3>{e(split)}: mean image per class</h3><div class="grid">')
      for i, mean in enumerate(values.get('mean_images') or []):
        if mean is None:
          out.append(f'<figure><figcaption>{e(named(i))}<br>(no examples)</figcaption></figure>')
          continue
        image = np.clip(np.round(np.array(mean, np.float64)), 0, 255).astype(np.uint8).reshape(28, 28)
        out.append(f'<figure><img src="data:image/png;base64,{quality.png(image)}" width="84" height="84" '
                   f'alt="mean {e(str(names[i]))}"><figcaption>{e(named(i))}</figcaption></figure>')
      out.append('</div>')
    out.append('<div class="grid">')
    for split, values in splits.items():
      if values.get('pixel_histogram'):
        out.append(charts.histogram(f'{split}: pixel intensities (log scale)', values['pixel_histogram'],
                                    x_label='intensity (0-255)'))
    out.append('</div>')
  if 'anomalies' in stats:
    out.append('<h3>Anomalies</h3>')
    out.append('<ul>' + ''.join(f'<li class="bad">{e(a)}</li>' for a in stats['anomalies']) + '</ul>'
               if stats['anomalies'] else '<p class="ok">none</p>')
  if stats.get('schema') or stats.get('inferred_schema'):
    out.append('<h3>Schemas</h3>')
    for key, caption in (('schema', 'checked in, validated against: components/schema/schema.pbtxt'),
                         ('inferred_schema', 'inferred by SchemaGen')):
      if stats.get(key):
        out.append(f'<details><summary>{caption}</summary>'
                   f'<pre style="font-size:11px">{e(stats[key])}</pre></details>')
  return out


# ----------------------------------------------------------------------------- HTML

_CSS = """body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:left}
.t{font-size:13px;font-weight:600}.s{font-size:11px;fill:#555}.c{font-size:10px;fill:#111}
.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}
.grid{display:flex;flex-wrap:wrap;gap:10px}.grid figure{margin:0;text-align:center;font-size:12px}
.grid img{image-rendering:pixelated;border:1px solid #ccc}code{font-size:12px}
details{margin:4px 0}summary{cursor:pointer}"""


def _serving_check(check: Dict[str, Any]) -> str:
  """The ServingCheck's verdict and numbers (components/serving_check.py wrote them)."""
  e = html.escape
  if check.get('unreadable'):
    return f'<h2>Serving check</h2><p>unreadable: {e(check["unreadable"])}</p>'
  verdict = '<span class="ok">servable</span>' if check.get('passed') else \
      '<span class="bad">not servable: not pushed</span>'
  out = [f'<h2>Serving check (fresh process, as a model server loads it)</h2><p>{verdict}</p><table>']
  for reason in check.get('reasons') or []:
    out.append(f'<tr><th class="bad">failed</th><td>{e(reason)}</td></tr>')
  if check.get('error'):
    return ''.join(out) + '</table>'
  rows = [
      ('signatures', ', '.join(check.get('signatures', []))),
      ('TF Serving warmup requests replayed', check.get('warmup_requests')),
      ('eval examples answered', f'{check.get("examples")} (Evaluator: {check.get("evaluator_examples")})'),
      ('classify vs serving_default', f'{check.get("disagreements")} disagreements, probabilities '
       f'within {check.get("max_probability_difference", 0):.1e}'),
      ('accuracy through classify', f'{check.get("accuracy_classify", 0):.4f} (Evaluator: '
       f'{check.get("evaluator_accuracy") or 0:.4f})'),
      ('refused', ', '.join(check.get('refused', [])) or 'nothing'),
      ('load time', f'{check.get("load_seconds", 0):.2f} s'),
  ]
  out.extend(f'<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>' for k, v in rows)
  out.append('</table><table><tr><th>batch</th><th>p50 ms</th><th>p99 ms</th><th>examples/s</th></tr>')
  for size, numbers in sorted(check.get('latency', {}).items(), key=lambda kv: int(kv[0])):
    out.append(f'<tr><td>{e(size)}</td><td>{numbers["p50_ms"]:.2f}</td><td>{numbers["p99_ms"]:.2f}</td>'
               f'<td>{numbers["examples_per_second"]:,.0f}</td></tr>')
  out.append(f'</table><p>Bound: one-image p99 ≤ {check.get("max_latency_ms", 0):g} ms.</p>')
  return ''.join(out)


def render(report: Dict[str, Any]) -> str:
  s = report['summary']
  e = html.escape
  out = [f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>MNIST TFX run {e(report["run_id"])}</title>',
         f'<style>{_CSS}</style></head><body>', f'<h1>MNIST TFX pipeline — run {e(report["run_id"])}</h1>']
  blessed = s.get('blessed')
  verdict = ('<span class="ok">blessed</span>' if blessed else '<span class="bad">not blessed</span>')
  accuracy = f'{s["accuracy"]:.4f}' if s.get('accuracy') is not None else '–'
  pushed = f'pushed as version {e(str(s["pushed_version"]))} to <code>{e(str(s["pushed_dir"]))}</code>' \
      if s.get('pushed_version') else \
      f'nothing new pushed: version {e(str(s["already_serving"]))} already serves this model' \
      if s.get('already_serving') else 'nothing pushed'
  out.append(f'<p>Test accuracy <b>{accuracy}</b>; {verdict}; {pushed}. Started {e(s.get("started", ""))}.</p>')
  out.extend(_how_it_was_made(s))

  gate = report.get('gate') or {}
  out.append('<h2>Gate decision</h2><table>')
  if gate.get('lower_bound') is not None:
    out.append(f'<tr><th>accuracy ≥ bound</th><td>{accuracy} ≥ {gate["lower_bound"]}</td></tr>')
  if gate:
    base, change = gate.get('baseline_accuracy'), gate.get('change_threshold')
    compared = change and base is not None and s.get('accuracy') is not None
    out.append('<tr><th>no worse than the last blessed model</th><td>'
               + (f'baseline {base:.4f}, change {s["accuracy"] - base:+.4f} (must be ≥ {change["absolute"]})'
                  if compared else 'no blessed model yet: not applied') + '</td></tr>')
  for failure in gate.get('failures') or []:
    out.append(f'<tr><th class="bad">failed</th><td>{e(failure)}</td></tr>')
  out.append('</table>')
  if report.get('serving_check'):
    out.append(_serving_check(report['serving_check']))

  history = report.get('history')
  if history:
    out.append('<h2>Training</h2><div class="grid">')
    out.append(charts.line_chart('loss', {'train': history.get('loss', []),
                                          'validation': history.get('val_loss', [])}, y_label='loss'))
    out.append(charts.line_chart('accuracy', {'train': history.get('accuracy', []),
                                              'validation': history.get('val_accuracy', [])},
                                 y_label='accuracy'))
    out.append('</div>')
  if 'confusion_matrix' in report:
    out.append(f'<h2>Eval split: confusion matrix (accuracy {report["eval_accuracy"]:.4f})</h2><div class="grid">')
    out.append(_heatmap(report['confusion_matrix']))
    names = (report.get('data_statistics') or {}).get('class_names') or [str(i) for i in range(NUM_CLASSES)]
    per_class = ''.join(f'<tr><td>{i}{"" if str(names[i]) == str(i) else " " + e(str(names[i]))}</td>'
                        f'<td>{"–" if a is None else f"{a:.4f}"}</td></tr>'
                        for i, a in enumerate(report['per_class_accuracy']))
    out.append(f'<table><tr><th>class</th><th>accuracy</th></tr>{per_class}</table></div>')
  if report.get('model_missing'):
    out.append(f'<h2>Eval split</h2><p>The model is no longer at <code>{e(report["model_missing"])}</code>: '
               'no confusion matrix or mistakes.</p>')
  if report.get('mistakes') is not None:
    out.append(f'<h2>Most confident mistakes ({len(report["mistakes"])})</h2><div class="grid">')
    for m in report['mistakes']:
      out.append(f'<figure><img src="data:image/png;base64,{m["png"]}" width="84" height="84" '
                 f'alt="eval #{m["index"]}"><figcaption>true {m["label"]} → {m["predicted"]}'
                 f'<br>p={m["probability"]:.3f}</figcaption></figure>')
    out.append('</div>')
  recorded_labels = any((values or {}).get('label_counts')
                        for values in ((report.get('data_statistics') or {}).get('splits') or {}).values())
  if report.get('label_histograms') and not recorded_labels:  # else Data statistics shows them
    histograms = report['label_histograms']
    out.append('<h2>Labels per split</h2>')
    out.append(_label_shares('labels per split', histograms, [str(i) for i in range(NUM_CLASSES)]))
  if report.get('data_statistics'):
    out.extend(_data_statistics(report['data_statistics']))
  out.append('<h2>Components</h2><table><tr><th>component</th><th>state</th><th>seconds</th></tr>')
  for node, state in s['component_states'].items():
    out.append(f'<tr><td>{e(node)}</td><td>{e(state)}</td><td>{s["component_seconds"].get(node, 0):.1f}</td></tr>')
  total = (s.get('provenance') or {}).get('total_seconds')
  out.append(f'<tr><th>total</th><td></td><th>{"–" if total is None else f"{total:.1f}"}</th></tr>')
  out.append('</table><h2>Lineage</h2><table>')
  for key, value in (report.get('data') or {}).items():
    out.append(f'<tr><th>{e(key)}</th><td><code>{e(str(value))}</code></td></tr>')
  for kind, uri in s['uris'].items():
    out.append(f'<tr><th>{e(kind)} #{s["artifacts"][kind]}</th><td><code>{e(uri)}</code></td></tr>')
  out.append('</table>')
  data = {k: v for k, v in report.items() if k != 'mistakes'}
  data['mistakes'] = [{k: v for k, v in m.items() if k != 'png'} for m in report.get('mistakes') or []]
  # JSON inside <script> is raw text (no entities): escape what could end the element instead.
  embedded = json.dumps(data).replace('<', '\\u003c').replace('>', '\\u003e').replace('&', '\\u0026')
  out.append(f'<script type="application/json" id="report-data">{embedded}</script>')
  out.append('</body></html>')
  return '\n'.join(out)


def render_index(summaries: List[Dict[str, Any]]) -> str:
  """The output dir's index.html: one row per run (RunSummary.to_json() plus 'report', a
  relative link or None), newest first."""
  from inspection.settings import key_settings
  e = html.escape
  out = ['<!DOCTYPE html><html><head><meta charset="utf-8"><title>MNIST TFX runs</title>',
         f'<style>{_CSS}</style></head><body><h1>MNIST TFX pipeline — every run</h1>',
         '<table><tr><th>run</th><th>state</th><th>test accuracy</th><th>blessed</th><th>pushed</th>'
         '<th>key settings</th><th>commit</th><th>report</th></tr>']
  for s in summaries:
    accuracy = '–' if s.get('accuracy') is None else f'{s["accuracy"]:.4f}'
    blessed = {True: '<span class="ok">yes</span>', False: '<span class="bad">no</span>'}.get(s.get('blessed'), '–')
    pushed = e(str(s.get('pushed_version') or (f'{s["already_serving"]} (already)' if s.get('already_serving') else '–')))
    commit = (s.get('provenance') or {}).get('git_commit') or '–'
    link = f'<a href="{e(s["report"])}">report</a>' if s.get('report') else 'none (see `report RUN`)'
    out.append(f'<tr><td>{e(s["run_id"])}</td><td>{e(s.get("state") or "–")}</td><td>{accuracy}</td>'
               f'<td>{blessed}</td><td>{pushed}</td><td><code>{e(key_settings(s.get("settings") or {}))}</code></td>'
               f'<td><code>{e(commit[:12] + (" (dirty)" if commit.endswith("(dirty)") else ""))}</code></td>'
               f'<td>{link}</td></tr>')
  out.append('</table></body></html>')
  return '\n'.join(out)
