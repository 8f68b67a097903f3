"""The command line's text, rendered from collected data alone (pure: no store, no files):
the runs table, the artifacts table and the lineage tree."""

from typing import Any, Dict, List

from components.lib import names
from inspection.settings import key_settings


def table(rows, headers) -> str:
  widths = (
    [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=True)]
    if rows
    else [len(h) for h in headers]
  )
  lines = ['  '.join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True))]
  lines += ['  '.join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)) for row in rows]
  return '\n'.join(line.rstrip() for line in lines)


def runs_table(summaries: List[Dict[str, Any]]) -> str:
  """One row per run (RunSummary.to_json() dicts), newest first as given."""
  rows = []
  for s in summaries:
    components = ', '.join(
      f'{node} {state.lower()} {s["component_seconds"].get(node, 0):.0f}s'
      for node, state in s['component_states'].items()
    )
    rows.append(
      [
        s['run_id'],
        s['started'],
        s.get('state') or '-',
        '-' if s['accuracy'] is None else f'{s["accuracy"]:.4f}',
        {True: 'yes', False: 'no', None: '-'}[s['blessed']],
        {True: 'yes', False: 'no', None: '-'}[s.get('servable')],
        s['pushed_version']
        or (f'{s["already_serving"]} (already)' if s['already_serving'] else '-'),
        key_settings(s.get('settings') or {}),
        components,
      ]
    )
  return table(
    rows,
    [
      'RUN',
      'STARTED',
      'STATE',
      'ACCURACY',
      'BLESSED',
      'SERVABLE',
      'PUSHED',
      'SETTINGS',
      'COMPONENTS',
    ],
  )


def _value(value) -> str:
  if value is None:
    return '-'
  if isinstance(value, bool):
    return 'yes' if value else 'no'
  if isinstance(value, float):
    return f'{value:.4f}' if 0 < abs(value) < 1 and len(f'{value:g}') > 6 else f'{value:g}'
  return str(value)


def compare_lines(result: Dict[str, Any]) -> List[str]:
  """`compare`: run A (older) and run B side by side; '*' marks a setting that differs."""
  a, b = result['a'], result['b']

  def accuracy(x):
    return '-' if x is None else f'{x:.4f}'

  rows = [
    ['', 'run', a['run_id'], b['run_id']],
    ['', 'started', a['started'], b['started']],
    ['', 'state', a['state'] or '-', b['state'] or '-'],
    [
      '*' if a['accuracy'] != b['accuracy'] else '',
      'test accuracy',
      accuracy(a['accuracy']),
      accuracy(b['accuracy'])
      + (
        f' ({result["accuracy_change"]:+.4f})' if result.get('accuracy_change') is not None else ''
      ),
    ],
    [
      '*' if a['blessed'] != b['blessed'] else '',
      'blessed',
      _value(a['blessed']),
      _value(b['blessed']),
    ],
    ['*' if a['pushed'] != b['pushed'] else '', 'pushed', a['pushed'], b['pushed']],
  ]
  rows += [
    ['*' if row['differs'] else '', row['name'], _value(row['a']), _value(row['b'])]
    for row in result['settings']
  ]
  pa, pb = a.get('provenance') or {}, b.get('provenance') or {}
  for key, label in (('git_commit', 'git commit'), ('total_seconds', 'total seconds')):
    x, y = pa.get(key), pb.get(key)
    rows.append(['*' if x != y and key != 'total_seconds' else '', label, _value(x), _value(y)])
  for name in list(pa.get('versions', {})) + [
    n for n in pb.get('versions', {}) if n not in pa.get('versions', {})
  ]:
    x, y = pa.get('versions', {}).get(name), pb.get('versions', {}).get(name)
    rows.append(['*' if x != y else '', name, _value(x), _value(y)])
  lines = [table(rows, ['', '', 'A', 'B'])]
  if result.get('per_class'):
    per_class = [
      [
        row['name'],
        accuracy(row['a']),
        accuracy(row['b']),
        '-' if row['change'] is None else f'{row["change"]:+.4f}',
      ]
      for row in result['per_class']
    ]
    lines += [
      '',
      'Per-class accuracy on the eval split (as served):',
      table(per_class, ['CLASS', 'A', 'B', 'CHANGE']),
    ]
  else:
    lines += ['', 'Per-class accuracy: not recorded (runs without a ServingCheck keep no answers)']
  lines.append('(* differs)')
  return lines


def artifacts_table(items: List[Dict[str, Any]]) -> str:
  rows = [
    [
      i['id'],
      i['type'],
      i['state'],
      i['uri'],
      ' '.join(
        f'{k}={str(v)[:16] + "…" if k.startswith("sha256") else v}'
        for k, v in i['properties'].items()
        if v is not None
      ),
    ]
    for i in items
  ]
  return table(rows, ['ID', 'TYPE', 'STATE', 'URI', 'PROPERTIES'])


def _describe(node) -> str:
  props = node['properties']
  text = f'{node["type"]} #{node["artifact_id"]} {node["uri"]}'
  if node['type'] == 'PushedModel' and 'pushed_version' in props:
    text += f' (version {props["pushed_version"]})'
  if node['type'] == 'ModelBlessing' and 'blessed' in props:
    text += ' (blessed)' if props['blessed'] else ' (NOT blessed)'
  if node['type'] == 'InferenceResult' and names.PREDICTED_ROWS in props:
    text += f' ({props[names.PREDICTED_ROWS]} predictions)'
  if node['type'] == 'InferenceResult' and names.NOT_BLESSED_NOTE in props:
    text += f' ({props[names.NOT_BLESSED_NOTE]})'
  if node['type'] == 'InfraBlessing' and 'blessed' in props:
    text += (
      ' (servable'
      + (
        f', one image p99 {props["latency_p99_ms"]:.1f} ms)'
        if props.get('latency_p99_ms') is not None
        else ')'
      )
      if props['blessed']
      else ' (NOT servable)'
    )
  return text


def lineage_lines(node, indent: str = '') -> List[str]:
  """Readable tree, one fact per line."""
  lines = [f'{indent}{_describe(node)}']
  if node.get('see_above'):
    lines[-1] += '  (see above)'
    return lines
  props = node['properties']
  for key, value in props.items():
    if key.startswith('sha256_'):
      lines.append(f'{indent}    {key[len("sha256_") :].replace("_", "-")} sha256 {value}')
  if node['type'] == 'Examples':
    for key in ('dataset', names.MANIFEST_SHA256, 'source_uri', 'train_examples', 'eval_examples'):
      if key in props:
        lines.append(f'{indent}    {key}: {props[key]}')
  producer = node.get('produced_by')
  if not producer:
    return lines
  lines.append(
    f'{indent}  ← {producer["component"]} (execution {producer["execution_id"]}, '
    f'{producer["state"]})'
  )
  evaluation = producer.get('evaluation')
  if evaluation:
    if evaluation.get('accuracy') is not None:
      baseline = (
        f', baseline {evaluation["baseline_accuracy"]:.4f}'
        if evaluation.get('baseline_accuracy') is not None
        else ', no baseline'
      )
      lines.append(f'{indent}      accuracy {evaluation["accuracy"]:.4f}{baseline}')
    if evaluation.get('accuracy_threshold') is not None:
      lines.append(
        f'{indent}      threshold: accuracy ≥ {evaluation["accuracy_threshold"]}'
        + (
          f', change ≥ {evaluation["change_threshold"]["absolute"]} vs baseline'
          if evaluation.get('change_threshold')
          else ''
        )
      )
    for failure in evaluation.get('failures', []):
      lines.append(f'{indent}      failed: {failure}')
  for key, upstream in producer['inputs'].items():
    for child in upstream:
      sub = lineage_lines(child, indent + '      ')
      sub[0] = f'{indent}    {key}: {sub[0].lstrip()}'
      lines.extend(sub)
  return lines


def served_table(versions: List[Dict[str, Any]], serving: str) -> str:
  if not versions:
    return f'{serving}: no versions (nothing pushed there yet)'
  return table(
    [
      [v['version'], v['pushed_at'] or '-', v['model_uri'] or '- (no record)', v['dir']]
      for v in versions
    ],
    ['version', 'pushed', 'model', 'folder'],
  )
