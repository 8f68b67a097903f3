"""The HTML run report: one self-contained file per run, pictures embedded.

Training curves, the eval-split confusion matrix, per-class accuracy, the most confident
mistakes, label histograms, the gate decision, component timings and a lineage summary.
The numbers are also embedded as JSON (id="report-data") so scripts and tests can read them.
"""
import base64
import html
import io
import json
import os
import re
from typing import Any, Dict, List, Optional

import numpy as np

from pipeline.metadata import lineage
from pipeline.metadata import runs
from trainer_module.features import EVAL_SPLIT, IMAGE_KEY, IMAGE_SIZE, LABEL_KEY, NUM_CLASSES, TRAIN_SPLIT

MISTAKES_SHOWN = 24


def _read_split(examples_uri: str, split: str):
  import tensorflow as tf
  from trainer_module import data
  files = sorted(tf.io.gfile.glob(f'{examples_uri.rstrip("/")}/Split-{split}/*'))  # any filesystem
  images, labels = [], []
  for batch in tf.data.TFRecordDataset(files, compression_type='GZIP').batch(2048):
    features = tf.io.parse_example(batch, data.FEATURE_SPEC)
    images.append(tf.io.decode_raw(features[IMAGE_KEY], tf.uint8).numpy().reshape(-1, IMAGE_SIZE, IMAGE_SIZE))
    labels.append(features[LABEL_KEY].numpy())
  if not images:
    return np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8), np.zeros((0,), np.int64)
  return np.concatenate(images), np.concatenate(labels)


def _predict(model_uri: str, images: np.ndarray) -> np.ndarray:
  import tensorflow as tf
  classify = tf.saved_model.load(os.path.join(model_uri, 'Format-Serving')).signatures['classify']
  probabilities = [classify(image=tf.constant(images[i:i + 1000] / 255.0, tf.float32))['probabilities'].numpy()
                   for i in range(0, len(images), 1000)]
  return np.concatenate(probabilities) if probabilities else np.zeros((0, NUM_CLASSES))


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


def model_quality(examples_uri: str, model_uri: Optional[str]) -> Dict[str, Any]:
  """Label histograms per split and, with a model, its confusion matrix, per-class accuracy and
  most confident mistakes on the eval split. Needs only the two artifacts' URIs."""
  from components.object_storage import enable_for
  enable_for(examples_uri, model_uri)
  quality: Dict[str, Any] = {}
  histograms = {}
  for split in (TRAIN_SPLIT, EVAL_SPLIT):
    images, labels = _read_split(examples_uri, split)
    histograms[split] = np.bincount(labels, minlength=NUM_CLASSES).tolist()
    if split == EVAL_SPLIT and model_uri and len(labels):
      probabilities = _predict(model_uri, images)
      predicted = probabilities.argmax(axis=1)
      confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
      np.add.at(confusion, (labels, predicted), 1)
      quality['confusion_matrix'] = confusion.tolist()  # rows: true label, columns: predicted
      quality['eval_accuracy'] = float(np.trace(confusion) / confusion.sum())
      with np.errstate(invalid='ignore'):
        per_class = np.diag(confusion) / confusion.sum(axis=1)
      quality['per_class_accuracy'] = [None if np.isnan(x) else float(x) for x in per_class]
      wrong = np.flatnonzero(predicted != labels)
      confidence = probabilities[wrong, predicted[wrong]]
      order = wrong[np.argsort(-confidence)][:MISTAKES_SHOWN]
      quality['mistakes'] = [{'index': int(i), 'label': int(labels[i]), 'predicted': int(predicted[i]),
                              'probability': float(probabilities[i, predicted[i]]),
                              'png': _png(images[i])} for i in order]
  quality['label_histograms'] = histograms
  return quality


def collect(store, run, summary=None) -> Dict[str, Any]:
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
    report.update(model_quality(examples.uri, summary.model_uri))
  evaluator = [e for e in store.get_executions_by_context(run.id)
               if runs.node_id(store, e.id) == 'Evaluator']
  if evaluator:
    details = lineage.evaluation_details(store, evaluator[0])
    report['gate'] = {k: details.get(k) for k in ('lower_bound', 'change_threshold', 'accuracy',
                                                  'baseline_accuracy', 'failures')}
  return report


def _png(image: np.ndarray, scale: int = 3) -> str:
  from PIL import Image
  buffer = io.BytesIO()
  Image.fromarray(image).resize((IMAGE_SIZE * scale, IMAGE_SIZE * scale), Image.NEAREST).save(buffer, 'PNG')
  return base64.b64encode(buffer.getvalue()).decode()


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


# ----------------------------------------------------------------------------- HTML

_CSS = """body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:left}
.t{font-size:13px;font-weight:600}.s{font-size:11px;fill:#555}.c{font-size:10px;fill:#111}
.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}
.grid{display:flex;flex-wrap:wrap;gap:10px}.grid figure{margin:0;text-align:center;font-size:12px}
.grid img{image-rendering:pixelated;border:1px solid #ccc}code{font-size:12px}"""


def render_html(report: Dict[str, Any]) -> str:
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
  if gate.get('change_threshold'):
    base = gate.get('baseline_accuracy')
    out.append('<tr><th>no worse than the last blessed model</th><td>'
               + (f'baseline {base:.4f}, change {s["accuracy"] - base:+.4f} (must be ≥ '
                  f'{gate["change_threshold"]["absolute"]})' if base is not None and s.get('accuracy') is not None
                  else 'no blessed model yet: not applied') + '</td></tr>')
  for failure in gate.get('failures') or []:
    out.append(f'<tr><th class="bad">failed</th><td>{e(failure)}</td></tr>')
  out.append('</table>')

  history = report.get('history')
  if history:
    out.append('<h2>Training</h2><div class="grid">')
    out.append(_line_chart('loss', {'train': history.get('loss', []), 'eval': history.get('val_loss', [])}))
    out.append(_line_chart('accuracy', {'train': history.get('accuracy', []),
                                        'eval': history.get('val_accuracy', [])}))
    out.append('</div>')
  if 'confusion_matrix' in report:
    out.append(f'<h2>Eval split: confusion matrix (accuracy {report["eval_accuracy"]:.4f})</h2><div class="grid">')
    out.append(_heatmap(report['confusion_matrix']))
    per_class = ''.join(f'<tr><td>{i}</td><td>{"–" if a is None else f"{a:.4f}"}</td></tr>'
                        for i, a in enumerate(report['per_class_accuracy']))
    out.append(f'<table><tr><th>digit</th><th>accuracy</th></tr>{per_class}</table></div>')
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
  out.append(f'<script type="application/json" id="report-data">{html.escape(json.dumps(data), quote=False)}</script>')
  out.append('</body></html>')
  return '\n'.join(out)


def report_path(output_dir: str, run_id: str) -> str:
  from pipeline.config import LocalPaths
  return os.path.join(LocalPaths.under(output_dir).reports_dir, re.sub(r'[^0-9A-Za-z._-]', '-', run_id),
                      'report.html')


def write_report(store, run, output_dir: str, summary=None) -> str:
  path = report_path(output_dir, run.name)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w') as f:
    f.write(render_html(collect(store, run, summary)))
  return path
