"""The guide's commands paste: every flag, subcommand and make target they name exists.

Commands are taken from the fenced shell blocks and the inline code of README.md and every
docs/*.md page. The flags come from the real argparse parsers, read when the test runs: each CLI
(`local_runner.py`, `python -m pipeline.…`, `python -m kubeflow`, any `python -m` module or
`python path.py` script of this repository) is started as `python` would start it, and stopped at
the moment it parses its command line, so a flag or subcommand added to a parser is known at once.
Make targets, their variables and the CLI that `ARGS=` reaches come from the Makefile.
"""
import argparse
import contextlib
import glob
import os
import re
import runpy
import shlex
import sys
import warnings
from typing import Dict, List, NamedTuple, Optional, Tuple

import pytest

from pipeline.commands import MODULE_FORMS, PROG

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(REPO, 'README.md')
README_MAX_LINES = 350


def pages() -> List[str]:
  return [README] + sorted(glob.glob(os.path.join(REPO, 'docs', '*.md')))


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
  segments, current = [], []
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

  saved = dict(argv=sys.argv, path=list(sys.path), environ=dict(os.environ),
                methods={m: getattr(argparse.ArgumentParser, m)
                         for m in ('__init__', 'parse_args', 'parse_known_args',
                                   'parse_intermixed_args', 'parse_known_intermixed_args')})
  argparse.ArgumentParser.__init__ = init
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
    _CLIS[key] = _capture(f'python -m {module}',
                          lambda: runpy.run_module(module, run_name='__main__', alter_sys=True))
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
  targets, current = {}, None
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


def check_make(makefile: Makefile, args: List[str]) -> List[str]:
  problems = []
  assignments = dict(a.split('=', 1) for a in args if re.match(r'^[A-Za-z_]\w*=', a))
  targets = [a for a in args if '=' not in a and not a.startswith('-') and a != 'TARGET']
  for target in targets:
    if target not in makefile.targets:
      problems.append(f'make: no target {target!r} (has {", ".join(sorted(makefile.targets))})')
  for variable in assignments:
    if variable not in makefile.variables:
      problems.append(f'make: the Makefile does not use {variable}')
  for target in targets:
    for script, _ in args_clis(makefile, target):
      if 'ARGS' in assignments:
        if not _is_our_script(script):
          problems.append(f'make {target}: its recipe runs {script}, which is not in the repository')
        else:
          problems += [f'make {target} ARGS: {p}'
                       for p in check_arguments(cli_for_script(script), _tokens(assignments['ARGS']))]
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
        problems.append(f'{PROG}: no subcommand {rest[0]!r} (has {", ".join(sorted(MODULE_FORMS))})')
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
  for expected in ('make install', 'make -C "$MNIST_TFX" test', 'mnist-tfx run --demo', 'mnist-tfx run',
                   'mnist-tfx inspect', 'mnist-tfx predict', 'kubeflow compile', 'kubeflow upload'):
    assert any(expected in c for c in ours), f'no checked command in README.md with {expected!r}'


@pytest.mark.parametrize('command, expected', [
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
])
def test_a_wrong_flag_subcommand_or_target_is_caught(command, expected):
  problems, ours = check_command(command, read_makefile())
  assert ours or 'no script' in expected
  assert any(expected in p for p in problems), problems


def test_values_are_not_taken_for_flags():
  """--beam-args' value is Beam's options, --param's a NAME=VALUE: neither is ours to check."""
  problems, ours = check_command(
      ".venv/bin/python local_runner.py --beam-args '--direct_num_workers=2' --epochs=2 "
      "[--seed N]", read_makefile())
  assert ours and not problems, problems


def test_the_makefile_recipes_name_only_flags_that_exist():
  """The flags a recipe fixes (e.g. make demo's) are checked like the pages' commands."""
  makefile = read_makefile()
  problems = []
  for target in makefile.targets:
    for script, fixed in args_clis(makefile, target):
      problems += ([f'make {target}: {p}' for p in check_arguments(cli_for_script(script), fixed)]
                   if _is_our_script(script) else [f'make {target}: no script {script}'])
  assert not problems, '\n'.join(problems)


# Names that, as the start of a relative path, point into the project: such a command works only
# when started from the project dir.
_PROJECT_NAMES = ({n for n in os.listdir(REPO) if not n.startswith('.')}
                  | {'.venv', 'tfx_output', 'demo_output'})


def fenced_lines(text: str) -> List[Tuple[int, str, bool]]:
  """(line number, shell line, whether a `cd` came before it in its block) of fenced shell blocks."""
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
      if ('/' in value and value.split('/')[0] in _PROJECT_NAMES) or os.path.isfile(os.path.join(REPO, value)):
        problems.append(f'the relative path {value}')
  return problems


def test_cwd_dependence_is_caught():
  assert cwd_dependent('.venv/bin/python -m inspection runs')
  assert cwd_dependent('make demo') == ['make without -C DIR']
  assert cwd_dependent('mnist-tfx predict trainer_module/seed_examples/example5.png')
  assert cwd_dependent('tensorboard --logdir=tfx_output/pipeline_root')
  assert not cwd_dependent('make -C "$MNIST_TFX" test PYTEST_ARGS="-m \'not slow\'"')
  assert not cwd_dependent('mnist-tfx predict --demo "$MNIST_TFX"/trainer_module/seed_examples/example5.png')
  assert not cwd_dependent('mnist-tfx kubeflow compile --output build/pipeline.yaml')
  assert not cwd_dependent('cd "$MNIST_TFX" && .venv/bin/python -m trainer_module.compare --epochs 2')
  assert not cwd_dependent('make -C "$MNIST_TFX" test PYTEST_ARGS="tests/pipeline -x"')


@pytest.mark.parametrize('page', pages(), ids=_rel)
def test_every_command_works_from_any_directory(page):
  """A command pasted from the guide runs wherever the reader's shell is; only the lines after a
  `cd` in the same block (the quick start's install) may rely on the project dir."""
  with open(page) as f:
    lines = fenced_lines(f.read())
  problems = [f'{_rel(page)}:{n}: {", ".join(found)}   in: {line.strip()}'
              for n, line, after_cd in lines if not after_cd
              for found in [cwd_dependent(line)] if found]
  assert not problems, '\n'.join(problems)


def test_the_readme_is_at_most_350_lines():
  with open(README) as f:
    count = len(f.read().splitlines())
  assert count <= README_MAX_LINES, f'README.md has {count} lines; the depth belongs in docs/'


_ISSUE = re.compile(r'\bissues?\s+#?\d+|(?<![\w./-])#\d+\b', re.IGNORECASE)


@pytest.mark.parametrize('page', pages(), ids=_rel)
def test_no_page_cites_an_issue_by_number(page):
  """Upstream issues are cited as owner/repo#N; this project's issue numbers mean nothing to a reader."""
  with open(page) as f:
    hits = [f'{_rel(page)}:{n}: {line.strip()}' for n, line in enumerate(f, 1) if _ISSUE.search(line)]
  assert not hits, '\n'.join(hits)
