"""Loopback servers that misbehave, for the health check's deadline: one that accepts and never
answers, one that trickles its answer a byte at a time for ever, and one that redirects to
another URL. Each runs in a daemon thread until stop()."""

import socket
import threading
import time
from typing import List


class BadServer:
  def __init__(self, handle):
    self.socket = socket.socket()
    self.socket.bind(('127.0.0.1', 0))
    self.socket.listen(16)
    self.url = f'http://127.0.0.1:{self.socket.getsockname()[1]}'
    self.accepted: List[socket.socket] = []
    self._handle = handle
    self._stopped = threading.Event()
    threading.Thread(target=self._serve, daemon=True).start()

  def _serve(self) -> None:
    while not self._stopped.is_set():
      try:
        connection, _ = self.socket.accept()
      except OSError:
        return
      self.accepted.append(connection)
      threading.Thread(target=self._handle, args=(connection, self._stopped), daemon=True).start()

  def stop(self) -> None:
    self._stopped.set()
    self.socket.close()
    for connection in self.accepted:
      connection.close()


def _silent(connection, stopped) -> None:
  stopped.wait()


def _trickle(connection, stopped) -> None:
  """A valid answer, one byte every 0.1 s (its status line and headers too), never finishing."""
  head = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n'
  try:
    connection.recv(65536)
    for byte in head + b' ' * 100000:
      if stopped.is_set():
        return
      connection.sendall(bytes([byte]))
      time.sleep(0.1)
  except OSError:
    pass


def silent() -> BadServer:
  """Accepts the connection, reads nothing, answers nothing."""
  return BadServer(_silent)


def trickle() -> BadServer:
  return BadServer(_trickle)


def redirect(to: str) -> BadServer:
  """Answers every request with 302 Found to `to` (a path is appended as asked)."""

  def handle(connection, stopped) -> None:
    try:
      request = connection.recv(65536).decode('latin-1')
      path = request.split(' ')[1] if ' ' in request else '/'
      connection.sendall(
        f'HTTP/1.1 302 Found\r\nLocation: {to}{path}\r\nContent-Length: 0\r\n'
        'Connection: close\r\n\r\n'.encode()
      )
    except OSError:
      pass
    finally:
      connection.close()

  return BadServer(handle)
