"""ML Metadata in a real MariaDB server (as Kubeflow's MLMD uses MySQL): the pipeline records a
run there and every `inspection` subcommand reads it back. The server is private to the
test: its own datadir in a temp dir, its own loopback port, stopped at the end."""

import json
import os
import shutil
import socket
import subprocess
import time

import pytest

from components.lib import serving_dir
from tests.conftest import run_py

pytestmark = pytest.mark.slow
PASSWORD = 'test-only-secret'


def _tool(*names):
  for name in names:
    path = shutil.which(name) or (
      f'/usr/sbin/{name}' if os.path.exists(f'/usr/sbin/{name}') else None
    )
    if path:
      return path
  return None


def _free_port():
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


@pytest.fixture(scope='module')
def mariadb(tmp_path_factory):
  server, install, client = (
    _tool('mariadbd', 'mysqld'),
    _tool('mariadb-install-db'),
    _tool('mariadb'),
  )
  if not (server and install and client):
    if os.environ.get('CI'):
      pytest.fail("mariadb-server is missing: .ci/run installs Debian's mariadb-server")
    pytest.skip("needs Debian's mariadb-server (apt-get install mariadb-server)")
  base = tmp_path_factory.mktemp('mariadb')
  datadir, sock = base / 'data', str(base / 'mysqld.sock')
  subprocess.run(
    [
      install,
      '--no-defaults',
      f'--datadir={datadir}',
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      '--user=root',
    ],
    check=True,
    capture_output=True,
    timeout=120,
  )
  port = _free_port()
  proc = subprocess.Popen(
    [
      server,
      '--no-defaults',
      f'--datadir={datadir}',
      f'--port={port}',
      '--bind-address=127.0.0.1',
      f'--socket={sock}',
      f'--pid-file={base / "pid"}',
      '--user=root',
      f'--log-error={base / "error.log"}',
    ]
  )
  try:
    deadline = time.monotonic() + 60
    while (
      subprocess.run(
        [client, f'--socket={sock}', '-u', 'root', '-e', 'SELECT 1'], capture_output=True
      ).returncode
      != 0
    ):
      assert proc.poll() is None and time.monotonic() < deadline, (base / 'error.log').read_text()
      time.sleep(0.5)
    subprocess.run(
      [
        client,
        f'--socket={sock}',
        '-u',
        'root',
        '-e',
        'CREATE DATABASE mlmd; '
        f"CREATE USER 'mlmd'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'; "
        "GRANT ALL ON mlmd.* TO 'mlmd'@'127.0.0.1';",
      ],
      check=True,
      timeout=60,
    )
    yield [
      '--mysql-host',
      '127.0.0.1',
      '--mysql-port',
      str(port),
      '--mysql-database',
      'mlmd',
      '--mysql-user',
      'mlmd',
    ]
  finally:
    proc.terminate()
    proc.wait(timeout=60)


def test_pipeline_and_every_subcommand_on_mariadb(mariadb, tmp_path, mnist_dir):
  env = {'MLMD_MYSQL_PASSWORD': PASSWORD}
  output_dir = str(tmp_path / 'D')
  # --verbose: TFX logs the ML Metadata connection config, password field included.
  proc = run_py(
    'local_runner.py',
    '--data-dir',
    mnist_dir,
    '--output-dir',
    output_dir,
    '--train-examples',
    '1000',
    '--eval-examples',
    '300',
    '--epochs',
    '1',
    '--accuracy-threshold',
    '0.3',
    '--verbose',
    *mariadb,
    env=env,
  )
  assert proc.returncode == 0, proc.stdout + proc.stderr
  assert 'ML Metadata:     MySQL mlmd@127.0.0.1:' in proc.stdout
  assert 'Using connection config' in proc.stderr and 'password: "***"' in proc.stderr
  assert PASSWORD not in proc.stdout + proc.stderr
  assert not os.path.exists(os.path.join(output_dir, 'metadata.sqlite'))
  [version] = [str(v) for v in serving_dir.versions(os.path.join(output_dir, 'serving'))]

  def metadata(*args):
    result = run_py(
      '-m', 'inspection', *mariadb, '--output-dir', output_dir, '--json', *args, env=env
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)

  [run] = metadata('runs')
  assert run['blessed'] is True and run['pushed_version'] == version
  assert run['component_states']['MnistExampleGen'] == 'COMPLETE'
  types = {a['type'] for a in metadata('artifacts')}
  assert {
    'Examples',
    'Model',
    'ModelRun',
    'ModelEvaluation',
    'ModelBlessing',
    'PushedModel',
  } <= types
  tree = metadata('lineage', version)
  assert tree['type'] == 'PushedModel'
  assert 'ba891046' in json.dumps(tree)
  report = metadata('report')['report']
  assert os.path.exists(report)

  # The summary's Inspect line reads the MySQL store it names, pasted as printed, from elsewhere.
  [inspect] = [
    line.split(':', 1)[1].strip()
    for line in proc.stdout.splitlines()
    if line.startswith('Inspect:')
  ]
  assert '--mysql-host 127.0.0.1' in inspect and inspect.endswith(f'lineage {version}')
  pasted = subprocess.run(
    ['bash', '-c', inspect],
    cwd=str(tmp_path),
    capture_output=True,
    text=True,
    env=dict(os.environ, **env),
    timeout=120,
  )
  assert pasted.returncode == 0 and 'ba891046' in pasted.stdout, pasted.stderr

  bad_env = {'MLMD_MYSQL_PASSWORD': 'wrong'}
  for wrong in (
    run_py('-m', 'inspection', *mariadb, 'runs', env=bad_env),
    run_py(
      'local_runner.py', '--data-dir', mnist_dir, '--output-dir', output_dir, *mariadb, env=bad_env
    ),
  ):
    assert wrong.returncode == 1
    [line] = wrong.stderr.strip().splitlines()
    assert 'wrong' not in line
    assert 'cannot connect or log in' in line and 'MLMD_MYSQL_PASSWORD' in line
  assert [str(v) for v in serving_dir.versions(os.path.join(output_dir, 'serving'))] == [version]
