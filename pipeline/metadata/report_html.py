"""The HTML run report, rendered from the report's data alone (pure: no ML Metadata, no files).

One self-contained page: the gate decision, training curves, the eval-split confusion matrix,
per-class accuracy, the most confident mistakes, label histograms, component timings and a
lineage summary. The numbers are also embedded as JSON (id="report-data") for scripts and tests.
"""
import html
import json
from typing import Any, Dict, List

import numpy as np

from trainer_module.features import NUM_CLASSES


# ----------------------------------------------------------------------------- SVG pictures


def _line_chart(title: str, series: Dict[str, List[float]], width=420, height=220) -> str:
  colors = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728']
  values = [v for s in series.values() for v in s]
  if not values:
    return ''
  low, high = min(values), max(values)
  span = (high - low) or 1.0
  n = max(len(s) for s in series.values())
  left, top, plot_w, plot_h = 62, 24, width - 82, height - 54

  def xy(i, v):
    x = left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)
    return x, top + plot_h * (1 - (v - low) / span)

  parts = [f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
           f'<text x="{width / 2}" y="15" text-anchor="middle" class="t">{html.escape(title)}</text>',
           f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#ccc"/>',
           f'<text x="{left - 4}" y="{top + 4}" text-anchor="end" class="s">{high:.4g}</text>',
           f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" class="s">{low:.4g}</text>',
           f'<text x="{left + plot_w / 2}" y="{height - 6}" text-anchor="middle" class="s">epoch (1–{n})</text>']
  for (name, points), color in zip(series.items(), colors):
    coords = ' '.join(f'{x:.1f},{y:.1f}' for x, y in (xy(i, v) for i, v in enumerate(points)))
    parts.append(f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2"/>')
    for i, v in enumerate(points):
      x, y = xy(i, v)
      parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}"><title>{name} epoch {i + 1}: {v:.4f}</title></circle>')
  for k, ((name, _), color) in enumerate(zip(series.items(), colors)):
    parts.append(f'<text x="{left + 8 + 110 * k}" y="{top + 14}" class="s" style="fill:{color}">■ {html.escape(name)}</text>')
  parts.append('</svg>')
  return ''.join(parts)


def _bar_chart(title: str, counts: List[int], width=320, height=200) -> str:
  top_count = max(counts) or 1
  left, top, plot_h = 44, 24, height - 50
  bar_w = (width - left - 10) / len(counts)
  parts = [f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
           f'<text x="{width / 2}" y="15" text-anchor="middle" class="t">{html.escape(title)}</text>']
  for i, c in enumerate(counts):
    h = plot_h * c / top_count
    x = left + i * bar_w
    parts.append(f'<rect x="{x + 2:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w - 4:.1f}" height="{h:.1f}" fill="#4c78a8"><title>{i}: {c}</title></rect>')
    parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 14}" text-anchor="middle" class="s">{i}</text>')
  parts.append(f'<text x="{left - 4}" y="{top + 8}" text-anchor="end" class="s">{top_count}</text></svg>')
  return ''.join(parts)


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


def _histogram_chart(title: str, counts: List[int], width=320, height=200) -> str:
  """Pixel-intensity histogram on a log scale (background pixels outnumber the rest 4 to 1)."""
  logs = [float(np.log10(1 + c)) for c in counts]
  top_log = max(logs) or 1.0
  left, top, plot_h = 60, 24, height - 50
  bar_w = (width - left - 10) / max(len(counts), 1)
  step = 256 // max(len(counts), 1)
  parts = [f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
           f'<text x="{width / 2}" y="15" text-anchor="middle" class="t">{html.escape(title)}</text>']
  for i, (c, v) in enumerate(zip(counts, logs)):
    h = plot_h * v / top_log
    x = left + i * bar_w
    parts.append(f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{max(bar_w - 1, 1):.1f}" '
                 f'height="{h:.1f}" fill="#72b7b2"><title>{i * step}-{(i + 1) * step - 1}: {c}</title></rect>')
  parts.append(f'<text x="{left}" y="{top + plot_h + 14}" class="s">0</text>'
               f'<text x="{width - 10}" y="{top + plot_h + 14}" text-anchor="end" class="s">255</text>'
               f'<text x="{left - 4}" y="{top + 8}" text-anchor="end" class="s">{max(counts) if counts else 0}</text>'
               f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" class="s">1</text></svg>')
  return ''.join(parts)


def _data_statistics(stats: Dict[str, Any]) -> List[str]:
  """The 'Data statistics' section: label distribution per split, mean image per class, pixel
  histogram, anomalies, and the checked-in schema beside SchemaGen's inferred one."""
  from pipeline.metadata import quality
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
        out.append(_histogram_chart(f'{split}: pixel intensities (log scale)', values['pixel_histogram']))
    out.append('</div>')
  if 'anomalies' in stats:
    out.append('<h3>Anomalies</h3>')
    out.append('<ul>' + ''.join(f'<li class="bad">{e(a)}</li>' for a in stats['anomalies']) + '</ul>'
               if stats['anomalies'] else '<p class="ok">none</p>')
  if stats.get('schema') or stats.get('inferred_schema'):
    out.append('<h3>Schema: checked in (validated against) and inferred by SchemaGen</h3><div class="grid">')
    for key, caption in (('schema', 'components/schema/schema.pbtxt'), ('inferred_schema', 'SchemaGen')):
      if stats.get(key):
        out.append(f'<figure><figcaption>{caption}</figcaption>'
                   f'<pre style="text-align:left;font-size:11px">{e(stats[key])}</pre></figure>')
    out.append('</div>')
  return out


# ----------------------------------------------------------------------------- HTML

_CSS = """body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:left}
.t{font-size:13px;font-weight:600}.s{font-size:11px;fill:#555}.c{font-size:10px;fill:#111}
.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}
.grid{display:flex;flex-wrap:wrap;gap:10px}.grid figure{margin:0;text-align:center;font-size:12px}
.grid img{image-rendering:pixelated;border:1px solid #ccc}code{font-size:12px}"""


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
    out.append(_line_chart('loss', {'train': history.get('loss', []), 'validation': history.get('val_loss', [])}))
    out.append(_line_chart('accuracy', {'train': history.get('accuracy', []),
                                        'validation': history.get('val_accuracy', [])}))
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
  if report.get('label_histograms'):
    out.append('<h2>Labels per split</h2><div class="grid">')
    for split, counts in report['label_histograms'].items():
      out.append(_bar_chart(f'{split} ({sum(counts)} examples)', counts))
    out.append('</div>')
  if report.get('data_statistics'):
    out.extend(_data_statistics(report['data_statistics']))
  out.append('<h2>Components</h2><table><tr><th>component</th><th>state</th><th>seconds</th></tr>')
  for node, state in s['component_states'].items():
    out.append(f'<tr><td>{e(node)}</td><td>{e(state)}</td><td>{s["component_seconds"].get(node, 0):.1f}</td></tr>')
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
