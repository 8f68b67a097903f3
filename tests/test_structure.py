"""The house rules, read from the code's own imports: each room imports only the rooms below it,
no two files import each other (directly or around a circle), no code file is over 400 lines, and
an import of our own code inside a function says why (docs/development.md, "Lint")."""

import ast
import os
from typing import Dict, List, Set, Tuple

import pytest

from tests.conftest import REPO

# Each room, and the rooms it may import (its own sub-packages aside).
LAYERS = {
  'trainer_module': set(),
  'components': {'trainer_module'},
  'pipeline': {'components', 'trainer_module'},
  'inspection': {'pipeline', 'components', 'trainer_module'},
  'predict': {'inspection', 'pipeline', 'components', 'trainer_module'},
  'kubeflow': {'inspection', 'pipeline', 'components', 'trainer_module'},
  'local_runner': {'inspection', 'pipeline', 'components', 'trainer_module'},
  'mnist_tfx': {'local_runner', 'inspection', 'predict', 'kubeflow', 'pipeline', 'components'},
}
MAX_LINES = 400
MAX_DEFERRED = 25  # imports of our own modules inside functions, each with its reason


def _modules() -> Dict[str, str]:
  """{dotted module name: path} of the project's code (tests and benchmarks aside)."""
  found = {}
  for room in LAYERS:
    if os.path.isfile(os.path.join(REPO, f'{room}.py')):
      found[room] = os.path.join(REPO, f'{room}.py')
      continue
    for folder, dirs, files in os.walk(os.path.join(REPO, room)):
      dirs[:] = [d for d in dirs if d != '__pycache__']
      for name in files:
        if name.endswith('.py'):
          path = os.path.join(folder, name)
          module = os.path.relpath(path, REPO)[:-3].replace(os.sep, '.')
          found[module.removesuffix('.__init__')] = path
  return found


MODULES = _modules()


def _target(name: str) -> str:
  """The longest project module a dotted import names (a.b.c -> a.b.c, a.b or a)."""
  parts = name.split('.')
  for end in range(len(parts), 0, -1):
    if '.'.join(parts[:end]) in MODULES:
      return '.'.join(parts[:end])
  return ''


def _imports(path: str) -> List[Tuple[str, ast.AST, bool, int]]:
  """(project module, node, inside a function, line) for each import of our code in a file."""
  tree = ast.parse(open(path, encoding='utf-8').read(), path)
  in_function: Set[int] = set()
  for node in ast.walk(tree):
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
      in_function.update(id(sub) for sub in ast.walk(node) if sub is not node)
  found: List[Tuple[str, ast.AST, bool, int]] = []
  for node in ast.walk(tree):
    names: List[str] = []
    if isinstance(node, ast.Import):
      names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
      names = [f'{node.module}.{alias.name}' for alias in node.names] + [node.module]
    else:
      continue
    for target in {_target(name) for name in names} - {''}:
      found.append((target, node, id(node) in in_function, node.lineno))
  return found


GRAPH = {
  module: {target for target, *_ in _imports(path) if target != module}
  for module, path in MODULES.items()
}


def _room(module: str) -> str:
  return module.split('.')[0]


def test_each_room_imports_only_the_rooms_below_it():
  upward = [
    f'{module} imports {target}'
    for module, targets in GRAPH.items()
    for target in targets
    if _room(target) != _room(module) and _room(target) not in LAYERS[_room(module)]
  ]
  assert not upward, upward


def test_no_import_cycle_between_files() -> None:
  """Tarjan's strongly connected components; a package's __init__ importing its own children is
  not a cycle."""
  graph = {m: {t for t in ts if not t.startswith(m + '.')} for m, ts in GRAPH.items()}
  index: Dict[str, int] = {}
  low: Dict[str, int] = {}
  stack: List[str] = []
  cycles: List[List[str]] = []

  def visit(node: str) -> None:
    index[node] = low[node] = len(index)
    stack.append(node)
    for nxt in graph[node]:
      if nxt not in index:
        visit(nxt)
        low[node] = min(low[node], low[nxt])
      elif nxt in stack:
        low[node] = min(low[node], index[nxt])
    if low[node] == index[node]:
      component: List[str] = []
      while True:
        top = stack.pop()
        component.append(top)
        if top == node:
          break
      if len(component) > 1:
        cycles.append(sorted(component))

  for node in graph:
    if node not in index:
      visit(node)
  assert not cycles, cycles


@pytest.mark.parametrize('module', sorted(MODULES))
def test_no_code_file_is_over_400_lines(module):
  with open(MODULES[module], encoding='utf-8') as f:
    assert sum(1 for _ in f) <= MAX_LINES


def test_an_import_of_our_code_inside_a_function_says_why():
  deferred = []
  unexplained = []
  for module, path in MODULES.items():
    lines = open(path, encoding='utf-8').read().splitlines()
    for _, _, inside, line in _imports(path):
      if not inside:
        continue
      deferred.append(f'{module}:{line}')
      # The reason: a comment on the import's line or on the lines just above it.
      if not any('#' in text for text in lines[max(line - 4, 0) : line]):
        unexplained.append(f'{os.path.relpath(path, REPO)}:{line}')
  assert not unexplained, unexplained
  assert len(set(deferred)) <= MAX_DEFERRED, deferred
