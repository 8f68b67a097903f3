"""The report's charts, drawn by matplotlib to inline SVG: real axes and ticks, legends placed
outside the plot so they never cover the data. Text stays text (selectable, small pages) and the
output is the same for the same numbers (fixed SVG ids, no date)."""
import io
import re
from typing import Dict, List, Optional, Sequence

_COLORS = ('#1f77b4', '#ff7f0e', '#2ca02c', '#d62728')


def _pyplot():
  import matplotlib
  matplotlib.use('Agg')  # no display; also keeps a notebook's backend out of it
  from matplotlib import pyplot
  matplotlib.rcParams.update({'svg.fonttype': 'none', 'svg.hashsalt': 'mnist-report',
                              'font.size': 9, 'axes.titlesize': 10, 'axes.spines.top': False,
                              'axes.spines.right': False})
  return pyplot


def _svg(figure) -> str:
  buffer = io.StringIO()
  figure.savefig(buffer, format='svg', bbox_inches='tight', metadata={'Date': None})
  _pyplot().close(figure)
  text = buffer.getvalue()
  text = text[text.index('<svg'):]  # inline: no XML declaration or DOCTYPE
  text = re.sub(r'\s*<metadata>.*?</metadata>', '', text, flags=re.S)  # RDF links, no content
  return re.sub(r'<svg ', '<svg class="chart" ', text, count=1)


def line_chart(title: str, series: Dict[str, Sequence[float]], x_label: str = 'epoch',
               y_label: str = '') -> str:
  """One line per series over 1..N (e.g. epochs), markers on each point."""
  series = {name: list(values) for name, values in series.items() if values}
  if not series:
    return ''
  pyplot = _pyplot()
  figure, axes = pyplot.subplots(figsize=(4.6, 2.9))
  for (name, values), color in zip(series.items(), _COLORS):
    axes.plot(range(1, len(values) + 1), values, marker='o', markersize=3, color=color, label=name)
  axes.set(title=title, xlabel=x_label, ylabel=y_label)
  axes.xaxis.get_major_locator().set_params(integer=True)
  axes.grid(alpha=0.3)
  axes.legend(loc='upper center', bbox_to_anchor=(0.5, -0.22), ncol=len(series), frameon=False)
  return _svg(figure)


def bar_chart(title: str, categories: Sequence[str], series: Dict[str, Sequence[float]],
              y_label: str = '', log: bool = False, width: float = 4.6) -> str:
  """Grouped bars: one group per category, one bar per series."""
  series = {name: list(values) for name, values in series.items() if values is not None}
  if not series:
    return ''
  pyplot = _pyplot()
  figure, axes = pyplot.subplots(figsize=(width, 2.9))
  n = len(series)
  bar = 0.8 / n
  for k, ((name, values), color) in enumerate(zip(series.items(), _COLORS)):
    axes.bar([i - 0.4 + bar * (k + 0.5) for i in range(len(values))], values, width=bar,
             color=color, label=name, log=log)
  axes.set_xticks(range(len(categories)))
  axes.set_xticklabels(categories, rotation=30 if max(map(len, categories)) > 3 else 0,
                       ha='right' if max(map(len, categories)) > 3 else 'center')
  axes.set(title=title, ylabel=y_label)
  axes.grid(axis='y', alpha=0.3)
  if n > 1:
    axes.legend(loc='upper center', bbox_to_anchor=(0.5, -0.25 if max(map(len, categories)) <= 3 else -0.45),
                ncol=n, frameon=False)
  return _svg(figure)


def histogram(title: str, counts: List[int], value_range=(0, 256), x_label: str = '',
              log: bool = True, label: Optional[str] = None) -> str:
  """Counts of equal-width bins over value_range (e.g. pixel intensities), on a log scale."""
  if not counts:
    return ''
  pyplot = _pyplot()
  figure, axes = pyplot.subplots(figsize=(4.6, 2.6))
  step = (value_range[1] - value_range[0]) / len(counts)
  axes.bar([value_range[0] + step * i for i in range(len(counts))], [max(c, 0) for c in counts],
           width=step, align='edge', color='#72b7b2', log=log, label=label)
  axes.set(title=title, xlabel=x_label, ylabel='count' + (' (log scale)' if log else ''),
           xlim=value_range)
  axes.grid(axis='y', alpha=0.3)
  return _svg(figure)
