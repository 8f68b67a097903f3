"""What `mnist-tfx kubeflow` prints: one clean line at a time.

Two things never reach the terminal: the userinfo of a URL (`http://user:PASSWORD@host` is printed
as `http://host`), and control characters (a server's `ESC[2J` would clear the user's screen; its
text is cleaned before it is printed or parsed)."""

import re

from pipeline.secrets import strip_userinfo

# C0 and C1 controls and DEL; tabs and newlines too (each message is one line).
_CONTROL = re.compile(r'[\x00-\x1f\x7f-\x9f]')


def without_userinfo(text: str) -> str:
  """`text` with the `user:password@` part of every URL in it taken out (pipeline/secrets.py)."""
  return strip_userinfo(text)


def printable(text: str) -> str:
  """`text` without control characters: what a remote server sent, safe to print or parse."""
  return _CONTROL.sub('', text)


def clean(text: object) -> str:
  """A line safe to print: no URL userinfo, no control characters."""
  return printable(without_userinfo(str(text)))
