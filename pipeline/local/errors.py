"""How a local run ends early: one line for the person, one exit code for the shell."""

from pipeline.commands import ExitCode


class RunError(Exception):
  """Ends a run: `line` is what the person sees on stderr, `exit_code` what the shell gets."""

  def __init__(self, line: str, exit_code: int = ExitCode.FAILED):
    super().__init__(line)
    self.line, self.exit_code = line, exit_code
