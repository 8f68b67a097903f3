"""The guide's commands paste, and run: README.md and every page under docs/.

Fast checks, on every command in the fenced shell blocks and inline code of the pages:
- every flag, subcommand and make target it names exists. The flags come from the real argparse
  parsers, read when the test runs: each CLI (`mnist-tfx COMMAND` through its `python` form in
  pipeline/commands.py MODULE_FORMS, any `python -m` module or `python path.py` script of this
  repository) is started as `python` would start it, and stopped at the moment it parses its
  command line, so a flag or subcommand added to a parser is known at once. Make targets, their
  variables and the CLI that `ARGS=` reaches come from the Makefile;
- it works from any directory (no path relative to the project dir, `make -C DIR`);
- in README.md then docs/tutorial.md, a command that reads an output dir comes after a run that
  wrote there (the inspect lines after only the smoke run carry --demo);
and on the pages themselves: every relative link and #anchor resolves, every code path and test
named exists, docs/reference/cli.md lists every flag of every subcommand with its real default,
the README stays short, no page cites an issue by number, and no shell block shows a prompt.

Slow: the README's commands, then the tutorial's, run as written
(test_the_readme_and_tutorial_run_as_written).
"""

import argparse
import glob
import os
import re
import runpy
import shlex
import subprocess
import sys
import warnings
from typing import Any, Dict, List, NamedTuple, Optional, Set, Tuple

import pytest

from pipeline import flags
from pipeline.commands import MODULE_FORMS, PROG

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(REPO, 'README.md')
README_MAX_LINES = 350


TUTORIAL = os.path.join(REPO, 'docs', 'tutorial.md')
CLI_REFERENCE = os.path.join(REPO, 'docs', 'reference', 'cli.md')
BENCHMARKS = os.path.join(REPO, 'docs', 'benchmarks.md')


def pages() -> List[str]:
  return [README] + sorted(glob.glob(os.path.join(REPO, 'docs', '**', '*.md'), recursive=True))


def _rel(path: str) -> str:
  return os.path.relpath(path, REPO)


# ---------------------------------------------------------------------------------------------
# Commands in the pages


class Command(NamedTuple):
  where: str  # page:line
  text: str


_FENCE = re.compile(r'^(\s*)(```+|~~~+)\s*([\w+-]*)')
_NOT_SHELL = {'python', 'py', 'yaml', 'yml', 'json', 'pbtxt', 'proto', 'toml', 'ini', 'text'}


def commands_in(text: str, name: str) -> List[Command]:
  """Shell lines of fenced blocks (continuations joined) and inline code spans, with their line."""
  found, prose = [], []
  lines = text.split('\n')
  i = 0
  while i < len(lines):
    fence = _FENCE.match(lines[i])
    if not fence:
      prose.append((i + 1, lines[i]))
      i += 1
      continue
    marker, info = fence.group(2), fence.group(3).lower()
    i += 1
    start, pending = None, ''
    while i < len(lines) and not lines[i].strip().startswith(marker):
      line = lines[i]
      if info not in _NOT_SHELL:
        start = start or i + 1
        if line.rstrip().endswith('\\'):
          pending += line.rstrip()[:-1] + ' '
        else:
          found.append(Command(f'{name}:{start}', pending + line))
          start, pending = None, ''
      i += 1
    i += 1  # the closing fence
  # Inline code may wrap onto the next line of prose.
  joined = '\n'.join(line for _, line in prose)
  line_of = [n for n, line in prose for _ in range(len(line) + 1)]
  for span in re.finditer(r'(?<!`)`([^`]+)`(?!`)', joined):
    found.append(Command(f'{name}:{line_of[span.start()]}', span.group(1).replace('\n', ' ')))
  return found


def _tokens(text: str) -> List[str]:
  text = re.sub(r'^\s*\$\s+', '', text)  # a shell prompt
  try:
    return shlex.split(text, comments=True)
  except ValueError:  # an unbalanced quote in a prose span: whitespace will do for flag names
    return text.split()


def _segments(tokens: List[str]) -> List[List[str]]:
  """Pipelines and lists split into simple commands; leading VAR=value assignments dropped."""
  segments: List[List[str]] = []
  current: List[str] = []
  for token in tokens:
    if token in ('|', '||', '&&', ';', '&'):
      segments.append(current)
      current = []
    else:
      current.append(token)
  segments.append(current)
  result = []
  for segment in segments:
    while segment and re.match(r'^[A-Za-z_][A-Za-z0-9_]*=', segment[0]):
      segment = segment[1:]
    if segment:
      result.append(segment)
  return result


# ---------------------------------------------------------------------------------------------
# The real parsers


class _Parsed(BaseException):
  """Raised where the CLI parses its command line (BaseException: no `except Exception` eats it)."""

  def __init__(self, parser):
    super().__init__()
    self.parser = parser


class Cli(NamedTuple):
  name: str
  root: argparse.ArgumentParser
  others: List[argparse.ArgumentParser]  # other parsers made before the parse (e.g. a first stage)


def _subcommands(parser: argparse.ArgumentParser) -> Dict[str, argparse.ArgumentParser]:
  for action in parser._actions:
    if isinstance(action, argparse._SubParsersAction):
      return dict(action.choices)
  return {}


def _capture(name: str, run) -> Cli:
  """Starts a CLI with `--help` and stops it where it parses; nothing else of it runs."""
  created = []
  real_init = argparse.ArgumentParser.__init__

  def init(self, *args, **kwargs):
    real_init(self, *args, **kwargs)
    created.append(self)

  def parse(self, *unused_args, **unused_kwargs):
    raise _Parsed(self)

  saved: Dict[str, Any] = dict(
    argv=sys.argv,
    path=list(sys.path),
    environ=dict(os.environ),
    methods={
      m: getattr(argparse.ArgumentParser, m)
      for m in (
        '__init__',
        'parse_args',
        'parse_known_args',
        'parse_intermixed_args',
        'parse_known_intermixed_args',
      )
    },
  )
  # A deliberate monkeypatch, put back in `finally` below.
  argparse.ArgumentParser.__init__ = init  # type: ignore[method-assign]
  for method in list(saved['methods'])[1:]:
    setattr(argparse.ArgumentParser, method, parse)
  sys.argv = [name, '--help']
  if REPO not in sys.path:
    sys.path.insert(0, REPO)
  try:
    with warnings.catch_warnings():
      run()
  except _Parsed as parsed:
    subs = _subcommands(parsed.parser).values()
    others = [p for p in created if p is not parsed.parser and all(p is not s for s in subs)]
    return Cli(name, parsed.parser, others)
  finally:
    for method, value in saved['methods'].items():
      setattr(argparse.ArgumentParser, method, value)
    sys.argv, sys.path[:] = saved['argv'], saved['path']
    os.environ.clear()
    os.environ.update(saved['environ'])
  raise AssertionError(f'{name} ended without parsing a command line with argparse')


_CLIS: Dict[str, Cli] = {}


def _is_our_module(module: str) -> bool:
  """A `python -m` module of this repository (not pytest, cProfile…)."""
  path = os.path.join(REPO, *module.split('.'))
  return os.path.isfile(path + '.py') or os.path.isfile(os.path.join(path, '__main__.py'))


def _is_our_script(script: str) -> bool:
  path = os.path.normpath(os.path.join(REPO, script))
  return path.startswith(REPO + os.sep) and os.path.isfile(path)


def cli_for_module(module: str) -> Cli:
  key = f'-m {module}'
  if key not in _CLIS:
    _CLIS[key] = _capture(
      f'python -m {module}', lambda: runpy.run_module(module, run_name='__main__', alter_sys=True)
    )
  return _CLIS[key]


def cli_for_script(script: str) -> Cli:
  path = os.path.normpath(os.path.join(REPO, script))
  key = _rel(path)
  if key not in _CLIS:
    _CLIS[key] = _capture(key, lambda: runpy.run_path(path, run_name='__main__'))
  return _CLIS[key]


def _find_option(parsers, option: str) -> Optional[argparse.Action]:
  for parser in parsers:
    action = parser._option_string_actions.get(option)
    if action is not None:
      return action
  return None


def check_arguments(cli: Cli, args: List[str]) -> List[str]:
  """What in `args` the CLI does not know: options, and a first positional that is no subcommand.

  After a subcommand its own options count, and the top level's too (a CLI may take those on
  either side of the subcommand)."""
  problems = []
  args = [a for a in args if a not in ('…', '...')]  # `mnist-tfx inspect …`: whichever
  subs = _subcommands(cli.root)
  command = None
  i = 0
  while i < len(args):
    token = args[i].strip('[]')
    if re.match(r'^--?[A-Za-z]', token):
      option = token.split('=', 1)[0]
      scope = ([subs[command]] if command else []) + [cli.root] + cli.others
      action = _find_option(scope, option)
      if action is None:
        problems.append(f'{cli.name}: no option {option}' + (f' for {command}' if command else ''))
      elif '=' not in token and action.nargs != 0:
        i += 1  # its value (which may itself start with '-', as --beam-args' does)
    elif subs and command is None and token:
      if token not in subs:
        problems.append(f'{cli.name}: no subcommand {token!r} (has {", ".join(sorted(subs))})')
        break
      command = token
    i += 1
  return problems


# ---------------------------------------------------------------------------------------------
# The Makefile


class Makefile(NamedTuple):
  targets: Dict[str, Tuple[List[str], List[str]]]  # name → (prerequisites, recipe lines)
  variables: set


def read_makefile(path: str = os.path.join(REPO, 'Makefile')) -> Makefile:
  with open(path) as f:
    text = f.read().replace('\\\n', ' ')
  targets: Dict[str, Tuple[List[str], List[str]]] = {}
  current: Optional[str] = None
  for line in text.split('\n'):
    rule = re.match(r'^([A-Za-z0-9_.-]+)\s*:(?!=)(.*)$', line)
    if rule and not rule.group(1).startswith('.'):
      current = rule.group(1)
      targets[current] = (rule.group(2).split('#')[0].split(), [])
    elif line.startswith('\t') and current:
      targets[current][1].append(line.strip())
    elif not line.startswith('\t'):
      current = None if line.strip() else current
  variables = set(re.findall(r'\$[({]([A-Za-z_][A-Za-z0-9_]*)[)}]', text))
  variables |= set(re.findall(r'^([A-Za-z_][A-Za-z0-9_]*)\s*[?:+]?=', text, re.M))
  return Makefile(targets, variables)


def args_clis(makefile: Makefile, target: str, seen=None) -> List[Tuple[str, List[str]]]:
  """The scripts that `make TARGET ARGS=…` hands ARGS to, each with the flags its recipe fixes."""
  seen = set() if seen is None else seen
  if target in seen or target not in makefile.targets:
    return []
  seen.add(target)
  prerequisites, recipe = makefile.targets[target]
  found = []
  for line in recipe:
    call = re.search(r'\$\(PY\)\s+(\S+\.py)\s*(.*)$', line)
    if call:
      fixed = [t for t in _tokens(call.group(2)) if not t.startswith('$')]
      found.append((call.group(1), fixed, '$(ARGS)' in line))
  result = [(script, fixed) for script, fixed, takes_args in found if takes_args]
  for prerequisite in prerequisites:
    result += args_clis(makefile, prerequisite, seen)
  return result


# Targets the docs may name before the Makefile has them, each being added by a change of its own
# (development.md's Lint section). Once the Makefile has one, it is checked like any other.
TARGETS_BEING_ADDED: dict = {}


def check_make(makefile: Makefile, args: List[str]) -> List[str]:
  problems = []
  assignments = dict(a.split('=', 1) for a in args if re.match(r'^[A-Za-z_]\w*=', a))
  targets = [a for a in args if '=' not in a and not a.startswith('-') and a != 'TARGET']
  for target in targets:
    if target not in makefile.targets and target not in TARGETS_BEING_ADDED:
      problems.append(f'make: no target {target!r} (has {", ".join(sorted(makefile.targets))})')
  for variable in assignments:
    if variable not in makefile.variables:
      problems.append(f'make: the Makefile does not use {variable}')
  for target in targets:
    for script, _ in args_clis(makefile, target):
      if 'ARGS' in assignments:
        if not _is_our_script(script):
          problems.append(
            f'make {target}: its recipe runs {script}, which is not in the repository'
          )
        else:
          problems += [
            f'make {target} ARGS: {p}'
            for p in check_arguments(cli_for_script(script), _tokens(assignments['ARGS']))
          ]
  return problems


# ---------------------------------------------------------------------------------------------
# Checking a command


def _is_python(word: str) -> bool:
  return re.match(r'^python(3(\.\d+)?)?$', os.path.basename(word)) is not None


def _without_directory(args: List[str]) -> List[str]:
  """make's own `-C DIR` (the way to start a target from any directory) left out."""
  out, skip = [], False
  for arg in args:
    if skip:
      skip = False
    elif arg == '-C':
      skip = True
    elif not arg.startswith('-C'):
      out.append(arg)
  return out


def check_command(command: str, makefile: Makefile) -> Tuple[List[str], bool]:
  """(problems, whether the command runs one of ours) for one line of shell."""
  problems, ours = [], False
  for segment in _segments(_tokens(command)):
    word, rest = segment[0], segment[1:]
    if word == 'make':
      ours = True
      problems += check_make(makefile, _without_directory(rest))
    elif os.path.basename(word) == PROG and rest:
      ours = True
      if rest[0] not in MODULE_FORMS:
        problems.append(
          f'{PROG}: no subcommand {rest[0]!r} (has {", ".join(sorted(MODULE_FORMS))})'
        )
      elif len(rest) > 1:
        form = MODULE_FORMS[rest[0]]
        cli = cli_for_script(form) if form.endswith('.py') else cli_for_module(form.split()[-1])
        problems += check_arguments(cli, rest[1:])
    elif _is_python(word) and rest:
      if rest[0] == '-m' and len(rest) > 1 and _is_our_module(rest[1]):
        ours, args = True, rest[2:]
        if args:  # only then is the parser needed (some modules import TensorFlow: seconds)
          problems += check_arguments(cli_for_module(rest[1]), args)
      elif rest[0].endswith('.py'):
        if _is_our_script(rest[0]):
          ours, args = True, rest[1:]
          if args:
            problems += check_arguments(cli_for_script(rest[0]), args)
        elif not rest[0].startswith(('/', '$', '~')):
          problems.append(f'no script {rest[0]} in the repository')
  return problems, ours


def problems_in(path: str) -> Tuple[List[str], int]:
  with open(path) as f:
    text = f.read()
  makefile = read_makefile()
  problems, checked = [], 0
  for command in commands_in(text, _rel(path)):
    found, ours = check_command(command.text, makefile)
    checked += ours
    problems += [f'{command.where}: {p}   in: {command.text.strip()}' for p in found]
  return problems, checked


# ---------------------------------------------------------------------------------------------
# Tests


@pytest.mark.parametrize('page', pages(), ids=_rel)
def test_every_command_names_only_flags_that_exist(page):
  problems, _ = problems_in(page)
  assert not problems, '\n'.join(problems)


def test_the_readme_runs_the_commands_it_promises():
  """Guards against a vacuous pass: the README's commands are found and checked."""
  with open(README) as f:
    text = f.read()
  commands = [c.text for c in commands_in(text, 'README.md')]
  makefile = read_makefile()
  ours = [c for c in commands if check_command(c, makefile)[1]]
  for expected in (
    'make install',
    'make -C "$MNIST_TFX" test',
    'mnist-tfx run --demo',
    'mnist-tfx run',
    'mnist-tfx inspect',
    'mnist-tfx predict',
    'kubeflow compile',
    'kubeflow upload',
  ):
    assert any(expected in c for c in ours), f'no checked command in README.md with {expected!r}'


@pytest.mark.parametrize(
  'command, expected',
  [
    ('.venv/bin/python local_runner.py --epochs 3 --no-such-flag 1', 'no option --no-such-flag'),
    ('.venv/bin/python -m inspection --output-dir x walk', "no subcommand 'walk'"),
    ('.venv/bin/python -m inspection runs --type Model', 'no option --type for runs'),
    ('.venv/bin/python -m kubeflow compile --output x --hosts y', 'no option --hosts'),
    ('python benchmarks/ratios.py --quick --fast', 'no option --fast'),
    ('make run ARGS="--epochs 1 --epoch 2"', 'make run ARGS: local_runner.py: no option --epoch'),
    ('make benchmark ARGS="--json x --seeds 1"', 'no option --seeds'),
    ('make demos', "make: no target 'demos'"),
    ('make -C "$MNIST_TFX" tests', "make: no target 'tests'"),
    ('mnist-tfx run --demo --epoch 2', 'no option --epoch'),
    ('mnist-tfx inspect --demo walk', "no subcommand 'walk'"),
    ('mnist-tfx predict --models 3 x.png', 'no option --models'),
    ('mnist-tfx show runs', "mnist-tfx: no subcommand 'show'"),
    ('make benchmark-ratios QUICKLY=1', 'does not use QUICKLY'),
    ('.venv/bin/python scripts/nowhere.py', 'no script scripts/nowhere.py'),
  ],
)
def test_a_wrong_flag_subcommand_or_target_is_caught(command, expected):
  problems, ours = check_command(command, read_makefile())
  assert ours or 'no script' in expected
  assert any(expected in p for p in problems), problems


def test_values_are_not_taken_for_flags():
  """--beam-args' value is Beam's options, --param's a NAME=VALUE: neither is ours to check."""
  problems, ours = check_command(
    ".venv/bin/python local_runner.py --beam-args '--direct_num_workers=2' --epochs=2 [--seed N]",
    read_makefile(),
  )
  assert ours and not problems, problems


def test_the_makefile_recipes_name_only_flags_that_exist():
  """The flags a recipe fixes (e.g. make demo's) are checked like the pages' commands."""
  makefile = read_makefile()
  problems = []
  for target in makefile.targets:
    for script, fixed in args_clis(makefile, target):
      problems += (
        [f'make {target}: {p}' for p in check_arguments(cli_for_script(script), fixed)]
        if _is_our_script(script)
        else [f'make {target}: no script {script}']
      )
  assert not problems, '\n'.join(problems)


# Names that, as the start of a relative path, point into the project: such a command works only
# when started from the project dir.
_PROJECT_NAMES = {n for n in os.listdir(REPO) if not n.startswith('.')} | {
  '.venv',
  'tfx_output',
  'demo_output',
}


def fenced_lines(text: str) -> List[Tuple[int, str, bool]]:
  """(line number, shell line, whether a `cd` came before it in its block) of fenced shell
  blocks."""
  found, lines, i = [], text.split('\n'), 0
  while i < len(lines):
    fence = _FENCE.match(lines[i])
    i += 1
    if not fence:
      continue
    shell, after_cd, block = fence.group(3).lower() not in _NOT_SHELL, False, []
    while i < len(lines) and not lines[i].strip().startswith(fence.group(2)):
      block.append((i + 1, lines[i]))
      i += 1
    i += 1
    prompted = any(line.lstrip().startswith('$ ') for _, line in block)  # commands and their output
    continued = False
    for n, line in block:
      if shell and line.strip() and (not prompted or continued or line.lstrip().startswith('$ ')):
        found.append((n, line, after_cd))
        after_cd = after_cd or _tokens(line)[:1] == ['cd']
      continued = line.rstrip().endswith('\\')
  return found


def cwd_dependent(command: str) -> List[str]:
  """What in one shell line works only from the project dir: a relative path into the project,
  one of our modules or scripts started by `python`, or `make` without `-C DIR`."""
  problems = []
  for segment in _segments(_tokens(command)):
    word, rest = segment[0], segment[1:]
    if word == 'cd':  # `cd "$MNIST_TFX" && …`: what follows starts from the directory named
      break
    if word == 'make':
      if not any(a.startswith('-C') for a in rest):
        problems.append('make without -C DIR')
      continue  # with -C, make and what it runs start in that directory
    if _is_python(word) and rest[:1] == ['-m'] and len(rest) > 1 and _is_our_module(rest[1]):
      problems.append(f'python -m {rest[1]}')
    for token in segment:
      value = re.sub(r'^(--?[\w-]+=|\w+=)', '', token)
      if value.startswith(('/', '$', '~', '-')):
        continue
      if ('/' in value and value.split('/')[0] in _PROJECT_NAMES) or os.path.isfile(
        os.path.join(REPO, value)
      ):
        problems.append(f'the relative path {value}')
  return problems


def test_cwd_dependence_is_caught():
  assert cwd_dependent('.venv/bin/python -m inspection runs')
  assert cwd_dependent('make demo') == ['make without -C DIR']
  assert cwd_dependent('mnist-tfx predict trainer_module/seed_examples/example5.png')
  assert cwd_dependent('tensorboard --logdir=tfx_output/pipeline_root')
  assert not cwd_dependent('make -C "$MNIST_TFX" test PYTEST_ARGS="-m \'not slow\'"')
  assert not cwd_dependent(
    'mnist-tfx predict --demo "$MNIST_TFX"/trainer_module/seed_examples/example5.png'
  )
  assert not cwd_dependent('mnist-tfx kubeflow compile --output build/pipeline.yaml')
  assert not cwd_dependent(
    'cd "$MNIST_TFX" && .venv/bin/python -m trainer_module.compare --epochs 2'
  )
  assert not cwd_dependent('make -C "$MNIST_TFX" test PYTEST_ARGS="tests/pipeline -x"')


@pytest.mark.parametrize('page', pages(), ids=_rel)
def test_every_command_works_from_any_directory(page):
  """A command pasted from the guide runs wherever the reader's shell is; only the lines after a
  `cd` in the same block (the quick start's install) may rely on the project dir."""
  with open(page) as f:
    lines = fenced_lines(f.read())
  problems = [
    f'{_rel(page)}:{n}: {", ".join(found)}   in: {line.strip()}'
    for n, line, after_cd in lines
    if not after_cd
    for found in [cwd_dependent(line)]
    if found
  ]
  assert not problems, '\n'.join(problems)


def test_the_readme_is_at_most_350_lines():
  with open(README) as f:
    count = len(f.read().splitlines())
  assert count <= README_MAX_LINES, f'README.md has {count} lines; the depth belongs in docs/'


_ISSUE = re.compile(r'\bissues?\s+#?\d+|(?<![\w./-])#\d+\b', re.IGNORECASE)


@pytest.mark.parametrize('page', pages(), ids=_rel)
def test_no_page_cites_an_issue_by_number(page):
  """Upstream issues are cited as owner/repo#N; this project's issue numbers mean nothing to a
  reader."""
  with open(page) as f:
    hits = [
      f'{_rel(page)}:{n}: {line.strip()}' for n, line in enumerate(f, 1) if _ISSUE.search(line)
    ]
  assert not hits, '\n'.join(hits)


@pytest.mark.parametrize('page', pages(), ids=_rel)
def test_shell_blocks_hold_only_commands(page):
  """A reader pastes a shell block whole: no `$ ` prompts and no output in it (output goes in a
  block marked ```text)."""
  with open(page) as f:
    lines = fenced_lines(f.read())
  prompted = [
    f'{_rel(page)}:{n}: {line.strip()}' for n, line, _ in lines if line.lstrip().startswith('$ ')
  ]
  assert not prompted, '\n'.join(prompted)


@pytest.mark.parametrize('page', [p for p in pages() if p != BENCHMARKS], ids=_rel)
def test_measurements_live_in_the_benchmarks_page(page):
  """Other pages state what the pipeline does and link to docs/benchmarks.md for how fast or how
  well: a line that says `measured` must link there (no lab notes)."""
  with open(page) as f:
    hits = [
      f'{_rel(page)}:{n}: {line.strip()}'
      for n, line in enumerate(f, 1)
      if re.search(r'\bmeasured\b', line, re.I) and 'benchmarks.md' not in line
    ]
  assert not hits, '\n'.join(hits)


# ---------------------------------------------------------------------------------------------
# Links and anchors


def _outside_code(text: str) -> str:
  """The page without its fenced blocks and inline code spans (links there are not links)."""
  kept, inside = [], None
  for line in text.split('\n'):
    fence = _FENCE.match(line)
    if fence and (inside is None or line.strip().startswith(inside)):
      inside = None if inside else fence.group(2)
      kept.append('')
      continue
    kept.append('' if inside else re.sub(r'`[^`]*`', '', line))
  return '\n'.join(kept)


def slug(heading: str) -> str:
  """GitHub's anchor for a heading: its text (links and code as their text), lower case, without
  punctuation, spaces as dashes."""
  text = re.sub(r'!?\[([^\]]*)\]\([^)]*\)', r'\1', heading.strip())
  text = re.sub(r'[`*]', '', text).lower()
  return re.sub(r'[^\w\- ]', '', text).replace(' ', '-')


def anchors(path: str) -> set:
  with open(path) as f:
    text = f.read()
  found: Set[str] = set()
  seen: Dict[str, int] = {}
  for line in _outside_code_keep_headings(text):
    base = slug(line)
    count = seen.get(base, 0)
    seen[base] = count + 1
    found.add(base if count == 0 else f'{base}-{count}')
  return found


def _outside_code_keep_headings(text: str) -> List[str]:
  """The text of each heading outside fenced blocks."""
  headings, inside = [], None
  for line in text.split('\n'):
    fence = _FENCE.match(line)
    if fence and (inside is None or line.strip().startswith(inside)):
      inside = None if inside else fence.group(2)
      continue
    heading = re.match(r'^#{1,6}\s+(.*?)\s*#*\s*$', line)
    if heading and not inside:
      headings.append(heading.group(1))
  return headings


_LINK = re.compile(r'!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)')


def broken_links(page: str) -> List[str]:
  with open(page) as f:
    text = _outside_code(f.read())
  problems = []
  for target in _LINK.findall(text):
    if re.match(r'^[a-z][a-z0-9+.-]*:', target):  # https:, mailto:
      continue
    path, _, anchor = target.partition('#')
    resolved = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
    if not os.path.exists(resolved):
      problems.append(f'{_rel(page)}: {target}: no such file')
    elif anchor and (not resolved.endswith('.md') or anchor not in anchors(resolved)):
      problems.append(f'{_rel(page)}: {target}: no heading #{anchor} in {_rel(resolved)}')
  return problems


@pytest.mark.parametrize('page', pages(), ids=_rel)
def test_every_link_resolves(page):
  problems = broken_links(page)
  assert not problems, '\n'.join(problems)


def test_a_broken_link_or_anchor_is_caught(tmp_path):
  page = tmp_path / 'page.md'
  page.write_text(
    '# Top\n\n## The `mnist-tfx run` flags: all of them\n\n'
    '[a](#top) [b](#the-mnist-tfx-run-flags-all-of-them)\n'
    '[c](nowhere.md) [d](#nothing) `[e](nowhere.md)` [f](https://example.com/x)\n'
  )
  problems = broken_links(str(page))
  assert len(problems) == 2, problems
  assert 'nowhere.md: no such file' in problems[0] and '#nothing' in problems[1]
  assert slug("tf.data's autotuner") == 'tfdatas-autotuner'
  assert slug('1. Read the smoke run') == '1-read-the-smoke-run'


# ---------------------------------------------------------------------------------------------
# Code paths and tests the pages name

_TOP_LEVEL = {
  n for n in os.listdir(REPO) if n not in ('.git', '.venv', 'tfx_output', 'demo_output')
}


def named_paths_missing(page: str) -> List[str]:
  """Inline code naming a file of the repository (`components/lib/idx.py`, `tests/x.py::test_y`)
  or a test (`test_y`) that does not exist."""
  with open(page) as f:
    text = f.read()
  spans, inside = [], None
  for line in text.split('\n'):
    fence = _FENCE.match(line)
    if fence and (inside is None or line.strip().startswith(inside)):
      inside = None if inside else fence.group(2)
      continue
    if not inside:
      spans += re.findall(r'(?<!`)`([^`]+)`(?!`)', line)
  problems = []
  for span in spans:
    path, _, test = span.partition('::')
    if re.fullmatch(r'[\w.-]+(/[\w.-]+)+/?', path) and path.split('/')[0] in _TOP_LEVEL:
      full = os.path.join(REPO, path)
      if not os.path.exists(full):
        problems.append(f'{_rel(page)}: `{span}`: no such file')
      elif test and not _defines(full, test):
        problems.append(f'{_rel(page)}: `{span}`: {path} has no {test}')
    elif re.fullmatch(r'test_\w+', span) and not _test_exists(span):
      problems.append(f'{_rel(page)}: `{span}`: no such test under tests/')
  return problems


def _defines(path: str, name: str) -> bool:
  with open(path) as f:
    return re.search(rf'^\s*def {re.escape(name)}\b', f.read(), re.M) is not None


_TEST_SOURCES: Dict[str, str] = {}


def _test_exists(name: str) -> bool:
  if not _TEST_SOURCES:
    for path in glob.glob(os.path.join(REPO, 'tests', '**', '*.py'), recursive=True):
      with open(path) as f:
        _TEST_SOURCES[path] = f.read()
  return any(re.search(rf'^\s*def {re.escape(name)}\b', s, re.M) for s in _TEST_SOURCES.values())


@pytest.mark.parametrize('page', pages(), ids=_rel)
def test_every_code_path_and_test_named_exists(page):
  """Guarantees name the test that holds each promise, and pages name the code that keeps it:
  a file or test moved or renamed shows here."""
  problems = named_paths_missing(page)
  assert not problems, '\n'.join(problems)


# ---------------------------------------------------------------------------------------------
# The command-line reference: every subcommand and flag, with its real default


def command_sections(text: str) -> Dict[str, str]:
  """`mnist-tfx …` heading → its own text: up to the next command heading (any level) or the next
  heading of its level or above."""
  headings = [
    (m.start(), len(m.group(1)), re.sub(r'[`*]', '', m.group(2)).strip(), m.end())
    for m in re.finditer(r'^(#{1,6})\s+(.*)$', text, re.M)
  ]
  sections = {}
  for i, (_, level, title, end) in enumerate(headings):
    if not title.startswith(PROG):
      continue
    stop = len(text)
    for start, other_level, other, _ in headings[i + 1 :]:
      if other.startswith(PROG) or other_level <= level:
        stop = start
        break
    sections[title] = text[end:stop]
  return sections


def table_rows(section: str) -> Dict[str, List[str]]:
  """Option → the cells of the table row whose first cell names it."""
  rows = {}
  for line in section.split('\n'):
    if not line.startswith('|') or re.match(r'^\|\s*-', line):
      continue
    cells = [c.strip() for c in re.split(r'(?<!\\)\|', line.strip().strip('|'))]
    for option in re.findall(r'(?<![\w-])(--?[a-zA-Z][\w-]*)', cells[0]):
      rows[option] = cells
  return rows


def _options(parser: argparse.ArgumentParser) -> Dict[str, argparse.Action]:
  return {o: a for a in parser._actions for o in a.option_strings if o not in ('-h', '--help')}


def _positionals(parser: argparse.ArgumentParser) -> List[str]:
  """The name each positional is shown by (each name of a tuple metavar)."""
  names: List[str] = []
  for a in parser._actions:
    if not a.option_strings and not isinstance(a, argparse._SubParsersAction):
      metavar = a.metavar or a.dest.upper()
      names.extend(metavar if isinstance(metavar, tuple) else [metavar])
  return names


def _shown_default(action: argparse.Action) -> Optional[str]:
  value = action.default
  if value in (None, argparse.SUPPRESS, '', []) or isinstance(value, bool):
    return None
  return f'{value:g}' if isinstance(value, float) else str(value)


def documented_commands() -> List[Tuple[str, argparse.ArgumentParser, set]]:
  """(heading, parser, options documented elsewhere) for every command and subcommand."""

  shared = argparse.ArgumentParser()
  flags.add_arguments(shared)
  found: List[Tuple[str, argparse.ArgumentParser, set]] = []
  for name, form in MODULE_FORMS.items():
    cli = cli_for_script(form) if form.endswith('.py') else cli_for_module(form.split()[-1])
    root_options = set(_options(cli.root))
    found.append((f'{PROG} {name}', cli.root, set()))
    for sub_name, sub in _subcommands(cli.root).items():
      elsewhere = root_options | (set(_options(shared)) if name == 'kubeflow' else set())
      found.append((f'{PROG} {name} {sub_name}', sub, elsewhere))
  return found


def cli_reference_problems(text: str) -> List[str]:
  sections = command_sections(text)
  problems = []
  for heading, parser, elsewhere in documented_commands():
    if heading not in sections:
      problems.append(f'no section "{heading}"')
      continue
    section, rows = sections[heading], table_rows(sections[heading])
    options = _options(parser)
    for option, action in options.items():
      if option in elsewhere:
        continue
      if option not in rows:
        problems.append(f'{heading}: {option} is not in a table row')
        continue
      default = _shown_default(action)
      if default is not None and default not in rows[option][1]:
        problems.append(
          f'{heading}: {option} defaults to {default}, the page says {rows[option][1]!r}'
        )
    for positional in _positionals(parser):
      if positional not in section:
        problems.append(f'{heading}: {positional} is not named')
    for option in rows:
      if option not in options:
        problems.append(f'{heading}: the page lists {option}, which {heading} does not take')
  return problems


def test_the_cli_reference_lists_every_flag_with_its_default():
  """docs/reference/cli.md is written by hand; this holds it to the parsers: every subcommand has
  its section, every option of it a table row whose second cell shows the parser's default, and
  every option a row names exists. Options of `inspect` go before or after its subcommands, and
  `kubeflow compile` takes `run`'s pipeline flags: those are documented once, in their section."""
  with open(CLI_REFERENCE) as f:
    problems = cli_reference_problems(f.read())
  assert not problems, '\n'.join(problems)


def test_a_missing_flag_or_wrong_default_is_caught():
  with open(CLI_REFERENCE) as f:
    text = f.read()
  broken = text.replace('| `--batch-size N` | 128 |', '| `--batch-size N` | 64 |').replace(
    '| `--newest` |', '| `--oldest` |'
  )
  problems = cli_reference_problems(broken)
  assert any('--batch-size defaults to 128' in p for p in problems), problems
  assert any('--newest is not in a table row' in p for p in problems), problems
  assert any('lists --oldest' in p for p in problems), problems


# ---------------------------------------------------------------------------------------------
# The reader's path: README.md, the serving guide (after only the smoke run), then the tutorial,
# in the state a reader is in

SERVING_GUIDE = os.path.join(REPO, 'docs', 'how-to', 'serve.md')
_WALKED = (README, SERVING_GUIDE, TUTORIAL)


def walkthrough_lines(page: str) -> List[Tuple[str, str]]:
  """(page:line, shell line) of the page's fenced shell blocks, continuations joined, in order."""
  with open(page) as f:
    text = f.read()
  found, lines, i = [], text.split('\n'), 0
  while i < len(lines):
    fence = _FENCE.match(lines[i])
    i += 1
    if not fence:
      continue
    shell, start, pending = fence.group(3).lower() not in _NOT_SHELL, None, ''
    while i < len(lines) and not lines[i].strip().startswith(fence.group(2)):
      line = lines[i]
      if shell and (line.strip() or pending):
        start = start or i + 1
        if line.rstrip().endswith('\\'):
          pending += line.rstrip()[:-1] + ' '
        else:
          found.append((f'{_rel(page)}:{start}', pending + line.strip()))
          start, pending = None, ''
      i += 1
    i += 1
  return found


def _without_comment(line: str) -> str:
  return re.sub(r'\s+#\s.*$', '', line).strip()


_SERVICES = {'docker', 'tensorboard', 'curl', 'kubectl', 'gsutil', 'aws', 'gcloud'}
_PLACEHOLDER = re.compile(r'(?<![\w$-])[A-Z][A-Z0-9_]*[A-Z0-9](?![\w-])')


def cannot_run_here(line: str) -> Optional[str]:
  """Why a documented line cannot run in the test, or None when it can (see the slow test)."""
  command = _without_comment(line)
  segments = _segments(_tokens(command))
  words = [s[0] for s in segments]
  if 'make' in words:
    return 'make: installs, runs the whole suite or builds an image'
  if words[:1] in (['cd'], ['export']):
    return 'shell set-up: the test environment stands for it'
  if _SERVICES & set(words):
    return 'needs a server, a cluster or a cloud account'
  if any('--host' in s for s in segments):
    return 'talks to a Kubeflow Pipelines endpoint'
  bare = re.sub(r'\$\{?[A-Za-z_]\w*\}?|\b[A-Za-z_]\w*=', '', command)
  placeholder = _PLACEHOLDER.search(bare)
  if placeholder:
    return f'has a placeholder ({placeholder.group(0)})'
  return None


def expected_exit(line: str) -> int:
  """0, unless the line's comment says otherwise (`# not blessed: exits 3`)."""
  comment = re.search(r'\s#\s(.*)$', line)
  said = re.search(r'\bexits?(?: code)? (\d)\b', comment.group(1)) if comment else None
  return int(said.group(1)) if said else 0


def test_what_the_walkthrough_skips():
  assert cannot_run_here('make install') and cannot_run_here('cd mnist-tfx   # your clone')
  assert cannot_run_here('export PATH="$PWD/.venv/bin:$PATH" MNIST_TFX="$PWD"')
  assert cannot_run_here('make -C "$MNIST_TFX" image IMAGE=r/m:1 && docker push r/m:1')
  assert cannot_run_here(
    'tensorboard --logdir "$MNIST_TFX"/tfx_output/pipeline_root/Trainer/model_run'
  )
  assert cannot_run_here(
    'mnist-tfx kubeflow upload --host http://localhost:8080 --package b.yaml --run'
  )
  assert 'VERSION' in cannot_run_here('mnist-tfx inspect lineage VERSION')
  assert 'RUN_A' in cannot_run_here('mnist-tfx inspect --demo compare RUN_A RUN_B')
  for runnable in (
    'mnist-tfx run --demo   # the whole pipeline on a slice of MNIST',
    'mnist-tfx predict --demo "$MNIST_TFX"/trainer_module/seed_examples/example5.png',
    'saved_model_cli run --dir "$(mnist-tfx inspect served --newest)" --tag_set serve '
    '--signature_def classify '
    '--inputs image="$MNIST_TFX"/trainer_module/seed_examples/examples.npy',
    'mnist-tfx kubeflow compile --output build/pipeline.yaml --image r.example.com/m:1 '
    '--pipeline-root s3://mlpipeline/mnist',
  ):
    assert cannot_run_here(runnable) is None, runnable
  assert (
    expected_exit('mnist-tfx run --demo --accuracy-threshold 0.999   # not blessed: exits 3') == 3
  )
  assert expected_exit('mnist-tfx run --demo   # a smoke run') == 0


_READS = re.compile(rf'{PROG}\s+(run|inspect|predict)\b([^)|;&]*)')


def output_dir_of_command(args: List[str]) -> Optional[str]:
  """'demo', 'default', or None for another store (--output-dir, --sqlite, a server)."""
  if any(
    a.split('=')[0] in ('--output-dir', '--sqlite', '--grpc-host', '--mysql-host') for a in args
  ):
    return None
  return 'demo' if '--demo' in args else 'default'


def reader_state_problems(lines: List[Tuple[str, str]]) -> List[str]:
  """What a command reads must have been written by a run earlier on the reader's path: an
  inspect or predict line needs a run in its output dir (compare without ids: two runs)."""
  runs = {'demo': 0, 'default': 0}
  problems = []
  for where, line in lines:
    command = _without_comment(line)
    if _tokens(command)[:1] in (['make'], ['cd'], ['export']):
      continue
    wrote = []
    for match in _READS.finditer(command):
      tool, args = match.group(1), _tokens(match.group(2))
      where_to = output_dir_of_command(args)
      if where_to is None:
        continue
      if tool == 'run':
        wrote.append(where_to)
        continue
      positional = [a for a in args if not a.startswith('-')]
      needed = 2 if positional[:1] == ['compare'] and len(positional) == 1 else 1
      if runs[where_to] < needed:
        problems.append(
          f'{where}: reads the {where_to} output dir, which holds {runs[where_to]} '
          f'run(s) at that point on the page   in: {command}'
        )
    for where_to in wrote:
      runs[where_to] += 1
  return problems


def test_each_command_reads_what_the_reader_has_run():
  """After the quick start's smoke run the reader has only demo_output/: inspect and predict carry
  --demo until a page has run `mnist-tfx run` (the slow test runs them; this says why at once)."""
  lines = [line for page in _WALKED for line in walkthrough_lines(page)]
  assert lines, 'no commands found in README.md and docs/tutorial.md'
  problems = reader_state_problems(lines)
  assert not problems, '\n'.join(problems)


def test_a_command_ahead_of_its_run_is_caught():
  problems = reader_state_problems(
    [
      ('a:1', 'mnist-tfx run --demo'),
      ('a:2', 'mnist-tfx inspect runs'),
      ('a:3', 'mnist-tfx inspect --demo compare'),
      ('a:4', 'saved_model_cli show --dir "$(mnist-tfx inspect --demo served --newest)"'),
    ]
  )
  assert [p.split(':')[1] for p in problems] == ['2', '3'], problems


# A full run (all of MNIST, 18 epochs) takes minutes; the walkthrough runs the same command on a
# slice instead, which leaves the reader in the same state: a blessed, pushed run in tfx_output/.
SMALL_FULL_RUN = (
  '--train-examples',
  '3000',
  '--eval-examples',
  '500',
  '--epochs',
  '1',
  '--accuracy-threshold',
  '0.5',
)


def as_run_here(line: str) -> str:
  command = _without_comment(line)
  tokens = _tokens(command)
  if tokens[:2] == [PROG, 'run'] and '--demo' not in tokens:
    assert len(_segments(tokens)) == 1, (
      f'cannot shorten a run that is part of a longer line: {line}'
    )
    command += ' ' + ' '.join(SMALL_FULL_RUN)
  return command


def _tail(text: str, lines: int = 40) -> str:
  return '\n'.join(text.strip().splitlines()[-lines:])


@pytest.mark.slow
def test_the_readme_and_tutorial_run_as_written(tmp_path):
  """Runs every command of README.md's shell blocks, then the serving guide's (which a reader may
  follow after only the smoke run), then docs/tutorial.md's, in page order, as written, with bash,
  from a directory outside the project, in the state a reader is in: the quick start's install
  done (PATH with the venv's bin first, MNIST_TFX the project dir), and the outputs of every
  earlier command on the path. Each must exit as its page says: 0, unless its comment says
  `exits N`. A `saved_model_cli run` on the seed's examples.npy must print classes.

  The environment: MNIST_TFX_OUTPUT_ROOT is a scratch dir, so tfx_output/ and demo_output/ land
  there and not in the repository; MNIST_DATA_DIR comes from the environment (CI sets it). The
  venv's `mnist-tfx` console script runs the code of the checkout it was installed from, which
  need not be this one: a temporary bin dir, first on PATH, holds an `mnist-tfx` that runs this
  repository's mnist_tfx.py with this Python, and a link to the venv's `saved_model_cli`.

  `mnist-tfx run` without --demo (all of MNIST for 18 epochs: minutes) runs with
  `--train-examples 3000 --eval-examples 500 --epochs 1 --accuracy-threshold 0.5` appended: a
  blessed, pushed run in tfx_output/, the state the full run leaves.

  Skipped, found by cannot_run_here(), each named in the test's output:
  - `make …`: installs (the environment above stands for `make install`), runs the whole suite,
    or builds an image;
  - `cd …` and `export …`: the shell set-up of the quick start, which the environment stands for;
  - docker, tensorboard, curl, kubectl, gsutil, aws, gcloud: they need a server, a cluster or a
    cloud account;
  - a line with `--host`: it talks to a Kubeflow Pipelines endpoint;
  - a line with a placeholder in CAPITALS (VERSION, RUN_A, DIR…; not $VARIABLES or NAME=value).
  """
  data_dir = os.environ.get('MNIST_DATA_DIR')
  if not data_dir or not os.path.isdir(data_dir):
    pytest.skip(
      'MNIST_DATA_DIR does not name a folder with the MNIST files: the walkthrough runs '
      'the pipeline on them (CI sets it)'
    )
  venv_bin = os.path.dirname(os.path.abspath(sys.executable))
  if not os.path.exists(os.path.join(venv_bin, 'saved_model_cli')):
    pytest.skip(f'no saved_model_cli beside {sys.executable}: run the tests with the project venv')
  bin_dir, scratch, elsewhere = tmp_path / 'bin', tmp_path / 'outputs', tmp_path / 'elsewhere'
  for folder in (bin_dir, scratch, elsewhere):
    folder.mkdir()
  wrapper = bin_dir / PROG
  wrapper.write_text(
    f'#!/bin/sh\nexec {shlex.quote(sys.executable)} '
    f'{shlex.quote(os.path.join(REPO, "mnist_tfx.py"))} "$@"\n'
  )
  wrapper.chmod(0o755)
  (bin_dir / 'saved_model_cli').symlink_to(os.path.join(venv_bin, 'saved_model_cli'))
  env = dict(
    os.environ,
    PATH=os.pathsep.join([str(bin_dir), venv_bin, os.environ.get('PATH', '')]),
    MNIST_TFX=REPO,
    MNIST_TFX_OUTPUT_ROOT=str(scratch),
    MNIST_DATA_DIR=data_dir,
  )
  env.pop('VIRTUAL_ENV', None)

  ran, skipped = [], []
  for page in _WALKED:
    for where, line in walkthrough_lines(page):
      reason = cannot_run_here(line)
      if reason:
        skipped.append(f'{where}: {reason}: {line}')
        continue
      command, expected = as_run_here(line), expected_exit(line)
      proc = subprocess.run(
        ['bash', '-c', command],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
      )
      output = proc.stdout + proc.stderr
      assert proc.returncode == expected, (
        f'{where}: exit {proc.returncode}, the page says {expected}\n  {command}\n{_tail(output)}'
      )
      if 'saved_model_cli run' in command and 'examples.npy' in command:
        assert 'Result for output key classes' in proc.stdout, (
          f'{where}: {command}\n{_tail(output)}'
        )
        if '--demo' in command:  # the smoke runs' models answer the seed's 5 and 3 (the slice's
          # one-epoch model is not held to it)
          assert '[5 3]' in proc.stdout, f'{where}: {command}\n{_tail(output)}'
      ran.append(where)
  print('Skipped:\n  ' + '\n  '.join(skipped))
  for page in _WALKED:
    assert any(w.startswith(_rel(page)) for w in ran), f'nothing of {_rel(page)} ran'
