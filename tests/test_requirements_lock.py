"""requirements.lock is what the tests run against: exactly the distributions installed in this
interpreter's environment (as scripts/lock.sh writes it), and every locked package that had to be
compiled here is compiled by the Dockerfile's builder stage (its slim final stage has no
compiler). Static: no network, no Docker."""
import importlib.metadata
import json
import os
import re
import subprocess
import sys
from typing import Dict, List, Tuple

from tests.conftest import REPO
from tests.kubeflow.test_dockerfile import builder_and_final, option_values

LOCK = os.path.join(REPO, 'requirements.lock')
LOCK_SH = os.path.join(REPO, 'scripts', 'lock.sh')
REGENERATE = 'run scripts/lock.sh (or scripts/lock.sh --no-install) and commit requirements.lock'


def normalize(name: str) -> str:
  return re.sub(r'[-_.]+', '-', name).lower()


def excluded() -> set:
  """The tool packages scripts/lock.sh leaves out (its EXCLUDED="…" line)."""
  with open(LOCK_SH) as f:
    match = re.search(r'^EXCLUDED="([^"]*)"', f.read(), re.M)
  assert match, 'scripts/lock.sh has no EXCLUDED="…" line'
  return {normalize(name) for name in match.group(1).split()}


def lock_lines() -> List[str]:
  with open(LOCK) as f:
    return [line.strip() for line in f if line.strip() and not line.startswith('#')]


def locked() -> Dict[str, str]:
  pins = {}
  for line in lock_lines():
    name, sep, version = line.partition('==')
    assert sep and re.fullmatch(r'[A-Za-z0-9._-]+', name) and version, f'not name==version: {line}'
    assert normalize(name) not in pins, f'{name} is pinned twice'
    pins[normalize(name)] = version
  return pins


def installed() -> Dict[str, importlib.metadata.Distribution]:
  """The running interpreter's distributions; of two with one name, the first on sys.path. Not
  this project's own editable install (scripts/install.sh, for its console script)."""
  dists = {}
  for dist in importlib.metadata.distributions():
    direct_url = json.loads(dist.read_text('direct_url.json') or '{}')
    if not direct_url.get('dir_info', {}).get('editable'):
      dists.setdefault(normalize(dist.metadata['Name']), dist)
  return dists


def test_lock_is_exactly_the_installed_set():
  skip = excluded()
  assert skip <= {'pip', 'setuptools', 'wheel'}, f'lock.sh excludes more than tools: {skip}'
  have = {name: dist.version for name, dist in installed().items() if name not in skip}
  pins = locked()
  missing = sorted(f'{name}=={have[name]}' for name in set(have) - set(pins))
  extra = sorted(f'{name}=={pins[name]}' for name in set(pins) - set(have))
  different = sorted(f'{name}: locked {pins[name]}, installed {have[name]}'
                     for name in set(pins) & set(have) if pins[name] != have[name])
  assert not (missing or extra or different), (
      f'requirements.lock is not the environment the tests run in ({sys.prefix}):\n'
      f'  installed, not locked: {missing}\n  locked, not installed: {extra}\n'
      f'  different versions: {different}\n{REGENERATE}')


def test_lock_is_sorted_with_a_header_saying_how_it_was_made():
  names = [normalize(line.partition('==')[0]) for line in lock_lines()]
  assert names == sorted(names), f'requirements.lock is not sorted: {REGENERATE}'
  with open(LOCK) as f:
    header = ''.join(line for line in f if line.startswith('#'))
  assert 'scripts/lock.sh' in header and 'constraints' in header, header


def test_lock_sh_reproduces_the_lock_byte_for_byte(tmp_path):
  """The script, run on this environment without installing, writes the committed file."""
  (tmp_path / 'scripts').mkdir()
  script = tmp_path / 'scripts' / 'lock.sh'
  script.write_bytes(open(LOCK_SH, 'rb').read())
  script.chmod(0o755)
  proc = subprocess.run([str(script), '--no-install'], cwd=str(tmp_path), capture_output=True,
                        text=True, timeout=120, env=dict(os.environ, VENV=sys.prefix))
  assert proc.returncode == 0, proc.stdout + proc.stderr
  assert (tmp_path / 'requirements.lock').read_text() == open(LOCK).read(), REGENERATE


def _platforms(dist: importlib.metadata.Distribution) -> List[str]:
  """The platform parts of the Tag: lines of the wheel it was installed from."""
  text = dist.read_text('WHEEL') or ''
  tags = [line.partition(':')[2].strip() for line in text.splitlines() if line.startswith('Tag:')]
  return [platform for tag in tags for platform in tag.split('-')[-1].split('.')]


def built_here() -> Dict[str, Tuple[str, List[str]]]:
  """Locked packages whose installed wheel was compiled from an sdist on this machine (a
  platform tag that is no manylinux/musllinux one, e.g. linux_x86_64): {name: (version, tags)}.
  A py3-none-any wheel built from an sdist needs no compiler, and the slim stage builds it."""
  pins, dists = locked(), installed()
  result = {}
  for name in pins:
    dist = dists.get(name)
    if dist is None:
      continue  # test_lock_is_exactly_the_installed_set reports it
    platforms = _platforms(dist)
    if not platforms or any(not p.startswith(('manylinux', 'musllinux')) and p != 'any'
                            for p in platforms):
      result[name] = (dist.version, platforms or ['(no WHEEL file)'])
  return result


def test_the_builder_compiles_every_locked_package_that_needed_a_compiler():
  builder, _ = builder_and_final()
  (args,) = builder.pip('wheel')
  constraints = option_values(args, '-c', '--constraint')
  copied = {os.path.basename(source) for flags, sources, _ in builder.copies() if not flags
            for source in sources}
  values = {v for option in ('-c', '--constraint', '-w', '--wheel-dir', '-r', '--requirement',
                             '-f', '--find-links', '-i', '--index-url', '--extra-index-url')
            for v in option_values(args, option)}
  requirements = [a for a in args if not a.startswith('-') and a not in values]
  pins = locked()
  built = {}
  for requirement in requirements:
    name, _, version = requirement.partition('==')
    name = normalize(name)
    assert name in pins, f'the builder builds {requirement}, which requirements.lock lacks'
    if version:
      assert version == pins[name], f'the builder builds {requirement}, the lock has {pins[name]}'
    else:
      assert constraints == ['requirements.lock'] and 'requirements.lock' in copied, (
          f'the builder builds {name} without a version: pin it (=={pins[name]}) or pass '
          f'-c requirements.lock (COPY requirements.lock into the builder)')
    built[name] = pins[name]

  needed = built_here()
  missing = {name: info for name, info in needed.items() if name not in built}
  assert not missing, (
      f'these locked packages were compiled from source here (no manylinux wheel for this '
      f'Python), and the slim final stage has no compiler: add them to the builder\'s '
      f'`pip wheel` in the Dockerfile: {missing}')
