"""The former name of `python -m inspection` (mnist-tfx inspect), kept so that scripts written for
it still work: it hands over to the new module in the same process slot (exec), importing nothing
of it."""

import os
import sys

if __name__ == '__main__':
  os.execv(sys.executable, [sys.executable, '-m', 'inspection', *sys.argv[1:]])
