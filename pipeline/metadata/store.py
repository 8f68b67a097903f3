"""Where ML Metadata lives: SQLite (local default), MySQL/MariaDB, or an MLMD gRPC service
(as on Kubeflow). Shared by local_runner.py and `python -m pipeline.metadata`."""
import argparse
import os
from typing import Optional

from ml_metadata.proto import metadata_store_pb2

MYSQL_PASSWORD_ENV = 'MLMD_MYSQL_PASSWORD'  # never a flag: flags end up in shell history and ps


class StoreError(RuntimeError):
  """The store is missing, unreachable or unreadable; the message is one line."""


def add_mysql_arguments(parser: argparse.ArgumentParser) -> None:
  group = parser.add_argument_group(
      'ML Metadata in MySQL/MariaDB (instead of SQLite)',
      f'the password is read from ${MYSQL_PASSWORD_ENV}')
  group.add_argument('--mysql-host', metavar='HOST')
  group.add_argument('--mysql-port', type=int, default=3306, metavar='PORT')
  group.add_argument('--mysql-database', default='mlmd', metavar='NAME')
  group.add_argument('--mysql-user', default='root', metavar='USER')


def mysql_config(args, env=None) -> Optional[metadata_store_pb2.ConnectionConfig]:
  if not getattr(args, 'mysql_host', None):
    return None
  env = os.environ if env is None else env
  config = metadata_store_pb2.ConnectionConfig()
  config.mysql.host = args.mysql_host
  config.mysql.port = args.mysql_port
  config.mysql.database = args.mysql_database
  config.mysql.user = args.mysql_user
  config.mysql.password = env.get(MYSQL_PASSWORD_ENV, '')
  return config


def sqlite_config(path: str, read_only: bool) -> metadata_store_pb2.ConnectionConfig:
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = path
  config.sqlite.connection_mode = (
      metadata_store_pb2.SqliteMetadataSourceConfig.READONLY if read_only
      else metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE)
  return config


def describe(config) -> str:
  if isinstance(config, metadata_store_pb2.MetadataStoreClientConfig):
    return f'MLMD gRPC service {config.host}:{config.port}'
  if config.HasField('mysql'):
    return f'MySQL {config.mysql.user}@{config.mysql.host}:{config.mysql.port}/{config.mysql.database}'
  return config.sqlite.filename_uri


def open_store(config):
  """Opens an existing store for reading; never creates one."""
  from ml_metadata import errors
  from ml_metadata import metadata_store
  if isinstance(config, metadata_store_pb2.ConnectionConfig) and config.HasField('sqlite'):
    if not os.path.exists(config.sqlite.filename_uri):
      raise StoreError(f'{config.sqlite.filename_uri}: no ML Metadata store there '
                       '(run the pipeline first, or pass --output-dir/--sqlite)')
  try:
    store = metadata_store.MetadataStore(config)
    store.get_context_types()  # fails here, not later, if the store is unusable
    return store
  except (errors.StatusError, RuntimeError) as e:
    message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    if 'mysql_real_connect' in message:
      message = ('cannot connect or log in: check host, port, user, database and '
                 f'${MYSQL_PASSWORD_ENV}')
    raise StoreError(f'{describe(config)}: cannot open the ML Metadata store ({message})') from None
