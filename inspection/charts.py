"""The report's charts, drawn by matplotlib to inline SVG: real axes and ticks, legends placed
outside the plot so they never cover the data. Text stays text (selectable, small pages) and the
output is the same for the same numbers (fixed SVG ids, no date)."""

import functools
import html
import io
import math
import re
from typing import Dict, List, Optional, Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

# Matplotlib's object API: no pyplot, so no backend and no global figure state.
_STYLE = {
  'svg.fonttype': 'none',
  'svg.hashsalt': 'mnist-report',
  'font.size': 9,
  'axes.titlesize': 10,
  'axes.spines.top': False,
  'axes.spines.right': False,
}
_COLORS = ('#1f77b4', '#ff7f0e', '#2ca02c', '#d62728')


def _styled(draw):
  """Draws under the report's style, without changing matplotlib's global settings."""

  @functools.wraps(draw)
  def styled(*args, **kwargs):
    with matplotlib.rc_context(_STYLE):
      return draw(*args, **kwargs)

  return styled


def _svg(figure) -> str:
  buffer = io.StringIO()
  figure.savefig(buffer, format='svg', bbox_inches='tight', metadata={'Date': None})
  text = buffer.getvalue()
  text = text[text.index('<svg') :]  # inline: no XML declaration or DOCTYPE
  text = re.sub(r'\s*<metadata>.*?</metadata>', '', text, flags=re.S)  # RDF links, no content
  return re.sub(r'<svg ', '<svg class="chart" ', text, count=1)


@_styled
def line_chart(
  title: str, series: Dict[str, Sequence[float]], x_label: str = 'epoch', y_label: str = ''
) -> str:
  """One line per series over 1..N (e.g. epochs), markers on each point."""
  series = {name: list(values) for name, values in series.items() if values}
  if not series:
    return ''
  figure = Figure(figsize=(4.6, 2.9))
  axes = figure.subplots()
  for (name, values), color in zip(series.items(), _COLORS, strict=False):
    axes.plot(range(1, len(values) + 1), values, marker='o', markersize=3, color=color, label=name)
  axes.set(title=title, xlabel=x_label, ylabel=y_label)
  axes.xaxis.set_major_locator(MaxNLocator(integer=True))
  axes.grid(alpha=0.3)
  axes.legend(loc='upper center', bbox_to_anchor=(0.5, -0.22), ncol=len(series), frameon=False)
  return _svg(figure)


@_styled
def bar_chart(
  title: str,
  categories: Sequence[str],
  series: Dict[str, Sequence[float]],
  y_label: str = '',
  log: bool = False,
  width: float = 4.6,
) -> str:
  """Grouped bars: one group per category, one bar per series."""
  series = {name: list(values) for name, values in series.items() if values is not None}
  if not series:
    return ''
  figure = Figure(figsize=(width, 2.9))
  axes = figure.subplots()
  n = len(series)
  bar = 0.8 / n
  for k, ((name, values), color) in enumerate(zip(series.items(), _COLORS, strict=False)):
    axes.bar(
      [i - 0.4 + bar * (k + 0.5) for i in range(len(values))],
      values,
      width=bar,
      color=color,
      label=name,
      log=log,
    )
  long = max(map(len, categories)) > 3
  axes.set_xticks(range(len(categories)))
  axes.set_xticklabels(categories, rotation=30 if long else 0, ha='right' if long else 'center')
  axes.set(title=title, ylabel=y_label)
  axes.grid(axis='y', alpha=0.3)
  if n > 1:
    axes.legend(
      loc='upper center', bbox_to_anchor=(0.5, -0.45 if long else -0.25), ncol=n, frameon=False
    )
  return _svg(figure)


@_styled
def histogram(
  title: str,
  counts: List[int],
  value_range=(0, 256),
  x_label: str = '',
  log: bool = True,
  label: Optional[str] = None,
) -> str:
  """Counts of equal-width bins over value_range (e.g. pixel intensities), on a log scale."""
  if not counts:
    return ''
  figure = Figure(figsize=(4.6, 2.6))
  axes = figure.subplots()
  step = (value_range[1] - value_range[0]) / len(counts)
  axes.bar(
    [value_range[0] + step * i for i in range(len(counts))],
    [max(c, 0) for c in counts],
    width=step,
    align='edge',
    color='#72b7b2',
    log=log,
    label=label,
  )
  axes.set(
    title=title, xlabel=x_label, ylabel='count' + (' (log scale)' if log else ''), xlim=value_range
  )
  axes.grid(axis='y', alpha=0.3)
  return _svg(figure)


# Above this many classes a cell is too small for its count: the cells are drawn as one image.
CELL_TEXT_MAX_CLASSES = 20
_RIGHT, _MISTAKE, _NONE = (0.173, 0.627, 0.173, 1.0), (0.839, 0.153, 0.157), (0.98, 0.98, 0.98, 1.0)


def _cell_colors(matrix: np.ndarray) -> np.ndarray:
  """RGBA per cell: the diagonal green; a mistake red, as opaque as it is frequent relative to the
  most frequent mistake; a pair that never happened off-white."""
  off_diagonal = matrix * (1 - np.eye(len(matrix), dtype=matrix.dtype))
  worst = max(int(off_diagonal.max(initial=0)), 1)
  colors = np.empty(matrix.shape + (4,))
  colors[...] = _NONE
  mistakes = off_diagonal > 0
  colors[mistakes] = _MISTAKE + (0,)
  colors[mistakes, 3] = np.minimum(0.08 + 0.92 * off_diagonal[mistakes] / worst, 1)
  colors[np.eye(len(matrix), dtype=bool)] = _RIGHT
  return colors


@_styled
def confusion_matrix(
  matrix: Sequence[Sequence[int]], class_names: Optional[Sequence[str]] = None
) -> str:
  """Rows the true class, columns the predicted one, class_names (else the indices) on the axes.
  Up to CELL_TEXT_MAX_CLASSES classes each cell is its own element with its count written in it
  and a tooltip; above, the cells are one image (thousands of elements would make a slow, heavy
  page) and a tick every few classes."""
  counts = np.asarray(matrix, np.int64)
  n = len(counts)
  if not n:
    return ''
  class_names = class_names or [str(i) for i in range(n)]
  side = min(max(0.36 * n, 2.2), 7.2)  # inches: up to 20 classes, cells of 34 pixels
  cell = 72 * side / n  # points
  figure = Figure(figsize=(side, side))
  axes = figure.add_axes((0, 0, 1, 1))
  colors = _cell_colors(counts)
  if n <= CELL_TEXT_MAX_CLASSES:
    digits = len(str(int(counts.max(initial=0))))
    size = min(9.0, 0.45 * cell, 0.75 * cell / (0.6 * digits))
    for (i, j), count in np.ndenumerate(counts):
      axes.add_patch(
        Rectangle(
          (j, i), 1, 1, facecolor=colors[i, j], edgecolor='white', linewidth=1, gid=f'cell-{i}-{j}'
        )
      )
      dark = i == j or (count > 0 and colors[i, j, 3] > 0.55)
      axes.text(
        j + 0.5,
        i + 0.5,
        str(count),
        ha='center',
        va='center',
        fontsize=size,
        color='white' if dark else '#111',
      )
  else:
    axes.imshow(colors, extent=(0, n, n, 0), interpolation='nearest')
  step = math.ceil(n / CELL_TEXT_MAX_CLASSES)
  ticks = range(0, n, step)
  labels = [str(class_names[i]) for i in ticks]
  long = max(map(len, labels)) > 3
  axes.set_xticks([i + 0.5 for i in ticks])
  axes.set_xticklabels(
    labels, rotation=45 if long else 0, ha='left' if long else 'center', rotation_mode='anchor'
  )
  axes.set_yticks([i + 0.5 for i in ticks])
  axes.set_yticklabels(labels)
  axes.set(xlim=(0, n), ylim=(n, 0), xlabel='predicted', ylabel='true')
  axes.xaxis.tick_top()
  axes.xaxis.set_label_position('top')
  axes.tick_params(length=0)
  for spine in axes.spines.values():
    spine.set_visible(False)
  svg = _svg(figure)

  def tooltip(match):  # SVG's own hover text, as the hand-drawn heatmap had
    i, j = int(match.group(1)), int(match.group(2))
    text = f'true {class_names[i]}, predicted {class_names[j]}: {counts[i, j]}'
    return f'{match.group(0)}<title>{html.escape(text)}</title>'

  return re.sub(r'<g id="cell-(\d+)-(\d+)">', tooltip, svg)
