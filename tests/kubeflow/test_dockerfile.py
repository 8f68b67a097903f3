"""The component image, checked statically (no Docker engine runs here): a builder stage compiles
the few locked packages that need a compiler, the slim final stage installs the lock with those
wheels and no compiler, carries every project package that the compiled commands import, and its
build context (.dockerignore) holds what it copies. Which packages the builder must compile is
checked against the installed environment in tests/test_requirements_lock.py."""

import ast
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from typing import Dict, List, NamedTuple, Optional, Tuple

import pytest

from tests.conftest import REPO

BASE = 'python:3.10-slim-bookworm'
ENTRYPOINT = ['python', '-m', 'kubeflow.entrypoint']
COMPILERS = {'build-essential', 'gcc', 'g++', 'clang', 'cpp', 'make'}


class Stage(NamedTuple):
  base: str
  name: Optional[str]
  instructions: List[Tuple[str, str]]  # (KEYWORD, rest of the line)

  def all(self, keyword: str) -> List[str]:
    return [rest for kw, rest in self.instructions if kw == keyword]

  def copies(self) -> List[Tuple[Dict[str, str], List[str], str]]:
    """(flags such as {'from': 'builder'}, sources, destination) of every COPY."""
    result = []
    for rest in self.all('COPY'):
      words = shlex.split(rest)
      flags = dict(w[2:].partition('=')[::2] for w in words if w.startswith('--'))
      *sources, dest = [w for w in words if not w.startswith('--')]
      result.append((flags, sources, dest))
    return result

  def commands(self) -> List[List[str]]:
    """Every shell command of every RUN, split at &&, || and ;."""
    result = []
    for rest in self.all('RUN'):
      lexer = shlex.shlex(rest, posix=True, punctuation_chars=True)
      lexer.whitespace_split = True
      command: List[str] = []
      for word in list(lexer) + [';']:
        if word in ('&&', '||', ';'):
          if command:
            result.append(command)
          command = []
        else:
          command.append(word)
    return result

  def pip(self, subcommand: str) -> List[List[str]]:
    """The arguments after `pip SUBCOMMAND` (pip, pip3 or python -m pip) of every RUN."""
    result = []
    for command in self.commands():
      for i, word in enumerate(command[:-1]):
        if (
          word in ('pip', 'pip3') or (word == '-m' and command[i + 1] == 'pip')
        ) and subcommand in command[i + 1 : i + 3]:
          result.append(command[command.index(subcommand, i + 1) + 1 :])
          break
    return result


def stages(path: str = os.path.join(REPO, 'Dockerfile')) -> List[Stage]:
  """The Dockerfile's build stages in order, continuation lines joined, comments dropped."""
  with open(path) as f:
    lines = f.read().splitlines()
  logical, current = [], ''
  for line in lines:
    stripped = line.strip()
    if not stripped or stripped.startswith('#'):
      continue  # Docker drops comment lines, also inside a continued instruction
    if stripped.endswith('\\'):
      current += stripped[:-1] + ' '
    else:
      logical.append(current + stripped)
      current = ''
  assert not current, f'Dockerfile ends inside a continued line: {current}'
  result = []
  for line in logical:
    keyword, _, rest = line.partition(' ')
    keyword, rest = keyword.upper(), rest.strip()
    if keyword == 'FROM':
      words = [w for w in rest.split() if not w.startswith('--')]
      name = words[2] if len(words) == 3 and words[1].upper() == 'AS' else None
      result.append(Stage(words[0], name, []))
    else:
      assert result, f'{keyword} before the first FROM'
      result[-1].instructions.append((keyword, rest))
  return result


def option_values(args: List[str], *names: str) -> List[str]:
  """The values of a pip option (given as `-c X`, `-cX`, `--constraint X` or `--constraint=X`)."""
  values = []
  for i, arg in enumerate(args):
    for name in names:
      if arg == name and i + 1 < len(args):
        values.append(args[i + 1])
      elif name.startswith('--') and arg.startswith(name + '='):
        values.append(arg[len(name) + 1 :])
      elif not name.startswith('--') and arg.startswith(name) and arg != name:
        values.append(arg[len(name) :])
  return values


def builder_and_final() -> Tuple[Stage, Stage]:
  all_stages = stages()
  final = all_stages[-1]
  sources = {flags['from'] for flags, _, _ in final.copies() if 'from' in flags}
  builders = [s for s in all_stages[:-1] if s.name in sources]
  assert len(builders) == 1, f'the final stage should copy wheels from one builder stage: {sources}'
  return builders[0], final


def install_sh_pip() -> str:
  with open(os.path.join(REPO, 'scripts', 'install.sh')) as f:
    pin = re.search(r'pip==[0-9][^"\s]*', f.read())
  assert pin, 'scripts/install.sh pins no pip=='
  return pin.group(0)


def test_builder_compiles_wheels_into_a_folder_the_final_stage_copies():
  builder, final = builder_and_final()
  assert builder.base == BASE
  installed = {
    word
    for command in builder.commands()
    if command[:2] == ['apt-get', 'install']
    for word in command[2:]
  }
  assert installed & {'build-essential', 'g++'}, (
    f'the builder installs no C++ compiler: {installed}'
  )
  wheel_runs = builder.pip('wheel')
  assert len(wheel_runs) == 1, wheel_runs
  args = wheel_runs[0]
  assert '--no-deps' in args, (
    'the builder builds only the listed packages (their dependencies come from PyPI)'
  )
  wheel_dir = option_values(args, '-w', '--wheel-dir')
  assert len(wheel_dir) == 1, args
  copied = [
    (sources, dest) for flags, sources, dest in final.copies() if flags.get('from') == builder.name
  ]
  assert [([wheel_dir[0]], dest) for _, dest in copied] == copied, copied
  # The same pip as scripts/install.sh in both stages.
  pip_pin = install_sh_pip()
  for stage in (builder, final):
    assert any(pip_pin in args for args in stage.pip('install')), (
      f'{stage.name or "final"}: no {pip_pin}'
    )


def test_final_stage_installs_the_lock_with_the_builders_wheels_and_no_compiler():
  builder, final = builder_and_final()
  assert final.base == BASE, 'the final stage starts from the slim image, not from the builder'
  for command in final.commands():
    if command[:1] == ['apt-get'] and 'install' in command:
      assert not COMPILERS & set(command), f'compiler in the final image: {command}'
  assert any(
    ['requirements.lock', './'] == [*sources, dest]
    for flags, sources, dest in final.copies()
    if not flags
  )
  (wheels,) = [dest for flags, _, dest in final.copies() if flags.get('from') == builder.name]
  commands = final.commands()
  installs = [
    i
    for i, command in enumerate(commands)
    if 'install' in command and '--require-hashes' in command
  ]
  assert len(installs) == 1, commands
  args = commands[installs[0]]
  assert option_values(args, '-r', '--requirement') == ['requirements.lock']
  assert not option_values(args, '-c', '--constraint'), 'pip checks no hashes in a constraints file'
  assert '--no-index' not in args, 'packages come from PyPI'
  assert not option_values(args, '-f', '--find-links'), (
    'a wheel built in the builder has no hash in the lock: pip --require-hashes would reject it'
  )
  # The builder's wheels, installed before: the hashed install finds them already installed.
  before = [
    command
    for command in commands[: installs[0]]
    if 'install' in command
    and any(os.path.normpath(a).startswith(os.path.normpath(wheels) + '/') for a in command)
  ]
  assert len(before) == 1, f"install the builder's wheels ({wheels}) before the hashed install"
  (wheel_install,) = before
  assert '--no-deps' in wheel_install and '--no-index' in wheel_install, wheel_install
  files = [a for a in wheel_install[wheel_install.index('install') + 1 :] if not a.startswith('-')]
  assert files and all(
    os.path.normpath(f).startswith(os.path.normpath(wheels) + '/') and f.endswith('.whl')
    for f in files
  ), files
  assert any(command[-2:] == ['pip', 'check'] for command in commands[installs[0] + 1 :]), (
    'pip check after the install'
  )


def test_entrypoint_is_the_compiled_command():
  _, final = builder_and_final()
  entrypoints = final.all('ENTRYPOINT')
  assert entrypoints and json.loads(entrypoints[-1]) == ENTRYPOINT


def _image_layout(final: Stage, image_dir) -> None:
  """What the final stage copies from the build context, laid out as in its WORKDIR."""
  workdir = final.all('WORKDIR')[-1]
  for flags, sources, dest in final.copies():
    if flags:
      continue
    relative = os.path.relpath(dest, workdir) if os.path.isabs(dest) else dest
    assert not relative.startswith('..'), f'COPY to {dest}: outside WORKDIR {workdir}'
    target = image_dir / os.path.normpath(relative)
    for source in sources:
      path = os.path.join(REPO, source)
      if os.path.isdir(path):
        shutil.copytree(
          path, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns('__pycache__', '*.pyc')
        )
      elif dest.endswith('/') or os.path.normpath(relative) == '.':
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target / os.path.basename(source))
      else:
        shutil.copy(path, target)


def _module_file(root: str, name: str) -> Optional[str]:
  base = os.path.join(root, *name.split('.'))
  for path in (base + '.py', os.path.join(base, '__init__.py')):
    if os.path.isfile(path):
      return path
  return None


def _project_imports(modules: List[str]) -> Dict[str, str]:
  """Every project module that `modules` import, transitively, also inside functions, as the
  repository's sources say: {module: a module that imports it}. The project: the repository's
  top-level packages and modules."""
  project = {
    name[:-3] if name.endswith('.py') else name
    for name in os.listdir(REPO)
    if not name.startswith('.')
    and (name.endswith('.py') or os.path.isfile(os.path.join(REPO, name, '__init__.py')))
  }
  found, queue = {}, [(m, '(compiled command)') for m in modules]
  while queue:
    name, importer = queue.pop()
    if name in found or name.split('.')[0] not in project:
      continue
    found[name] = importer
    path = _module_file(REPO, name)
    if path is None:
      continue  # a module the code names but the repository lacks: the import check reports it
    package = name if path.endswith('__init__.py') else name.rpartition('.')[0]
    with open(path) as f:
      tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
      if isinstance(node, ast.Import):
        queue.extend((alias.name, name) for alias in node.names)
      elif isinstance(node, ast.ImportFrom):
        if node.level:
          parts = package.split('.')
          base = '.'.join(parts[: len(parts) - node.level + 1])
          source = f'{base}.{node.module}' if node.module else base
        else:
          assert node.module is not None  # an absolute `from X import` always names X
          source = node.module
        queue.append((source, name))
        for alias in node.names:  # `from package import module`
          if _module_file(REPO, f'{source}.{alias.name}'):
            queue.append((f'{source}.{alias.name}', name))
  return found


class _Image(NamedTuple):
  root: os.PathLike  # the final stage's WORKDIR as the build context fills it
  modules: List[str]  # the modules the compiled commands run (python -m MODULE)
  attributes: List[str]  # what they load by dotted path: executor classes, the trainer's run_fn
  needed: Dict[str, str]  # every project module those import: {module: a module importing it}


def _image_and_compiled_commands(spec, tmp_path) -> _Image:
  _, final = builder_and_final()
  workdir = final.all('WORKDIR')[-1]
  envs = ' '.join(final.all('ENV'))
  assert f'PYTHONPATH={workdir}' in envs
  image_dir = tmp_path / 'pipeline'
  image_dir.mkdir()
  _image_layout(final, image_dir)

  modules, attributes = [ENTRYPOINT[2]], []
  for executor in spec['deploymentSpec']['executors'].values():
    if 'container' in executor:
      command = executor['container']['command']
      assert command[:2] == ['python', '-m'] and len(command) == 3, command
      modules.append(command[2])
      args = executor['container']['args']
      if '--executor_class_path' in args:
        attributes.append(args[args.index('--executor_class_path') + 1])
  run_fn = spec['root']['dag']['tasks']['Trainer']['inputs']['parameters']['run_fn']
  attributes.append(run_fn['runtimeValue']['constant'])
  assert 'kubeflow.entrypoint' in modules and 'kubeflow.run_results' in modules, modules
  needed = _project_imports(modules + [a.rsplit('.', 1)[0] for a in attributes])
  return _Image(image_dir, modules, attributes, needed)


def test_image_carries_everything_the_compiled_commands_import(compiled, tmp_path):
  """Statically: every project module the compiled commands import, also lazily inside
  functions, is in the image: the results step needs the read side's report renderer.
  test_compiled_commands_import_with_only_the_image_on_sys_path imports them for real."""
  _, spec = compiled
  image = _image_and_compiled_commands(spec, tmp_path)
  assert {'inspection.report_html', 'inspection.model_quality'} <= set(image.needed), sorted(
    image.needed
  )
  missing = {
    name: importer
    for name, importer in image.needed.items()
    if not _module_file(str(image.root), name)
  }
  assert not missing, f'the image lacks (module: imported by) {missing}'


@pytest.mark.slow  # a new process that imports TFX and TensorFlow: ~10 s
def test_compiled_commands_import_with_only_the_image_on_sys_path(compiled, tmp_path):
  _, spec = compiled
  image = _image_and_compiled_commands(spec, tmp_path)
  check = (
    'import importlib, sys\n'
    f'assert {REPO!r} not in sys.path, sys.path\n'
    'modules, attributes = sys.argv[1].split(), sys.argv[2].split()\n'
    'for module in modules:\n'
    '  importlib.import_module(module)\n'
    'for path in attributes:\n'
    '  module, name = path.rsplit(".", 1)\n'
    '  getattr(importlib.import_module(module), name)\n'
  )
  others = sorted(set(image.needed) - set(image.modules))
  elsewhere = tmp_path / 'elsewhere'
  elsewhere.mkdir()
  proc = subprocess.run(
    [sys.executable, '-c', check, ' '.join(image.modules + others), ' '.join(image.attributes)],
    cwd=str(elsewhere),
    env={
      'PATH': os.environ['PATH'],
      'PYTHONPATH': str(image.root),
      'TF_CPP_MIN_LOG_LEVEL': '3',
      'HOME': str(tmp_path),
    },
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]


def _dockerignore() -> List[Tuple[bool, 're.Pattern']]:
  """(negated, regex) per .dockerignore line, as Docker reads them."""
  patterns = []
  with open(os.path.join(REPO, '.dockerignore')) as f:
    for line in f:
      line = line.strip()
      if not line or line.startswith('#'):
        continue
      negated = line.startswith('!')
      pattern = os.path.normpath(line.lstrip('!').strip()).lstrip('/')
      regex = (
        re.escape(pattern)
        .replace(r'\*\*/', '(.*/)?')
        .replace(r'\*\*', '.*')
        .replace(r'\*', '[^/]*')
        .replace(r'\?', '[^/]')
      )
      patterns.append((negated, re.compile(regex + '$')))
  return patterns


def _excluded(relative: str, patterns) -> bool:
  """Docker: a pattern that matches the path or one of its parents decides; the last one wins."""
  parts = relative.split('/')
  prefixes = ['/'.join(parts[:i]) for i in range(1, len(parts) + 1)]
  excluded = False
  for negated, regex in patterns:
    if any(regex.match(prefix) for prefix in prefixes):
      excluded = not negated
  return excluded


def test_build_context_holds_what_the_dockerfile_copies_and_little_else():
  patterns = _dockerignore()
  for stage in stages():
    for flags, sources, _ in stage.copies():
      if 'from' in flags:
        continue
      for source in sources:
        path = os.path.join(REPO, source)
        assert os.path.exists(path), f'COPY {source}: not in the repository'
        files = (
          [source.rstrip('/')]
          if os.path.isfile(path)
          else [
            os.path.relpath(os.path.join(root, name), REPO)
            for root, dirs, names in os.walk(path)
            for name in names
            if '__pycache__' not in root and not name.endswith('.pyc')
          ]
        )
        assert files, source
        left_out = [f for f in files if _excluded(f, patterns)]
        assert not left_out, f'.dockerignore leaves out what COPY {source} needs: {left_out}'
  for big in (
    '.venv/bin/python',
    'tfx_output/x',
    'tests/conftest.py',
    '.git/HEAD',
    'components/__pycache__/x.pyc',
  ):
    assert _excluded(big, patterns), f'{big} would be sent to the Docker daemon'
