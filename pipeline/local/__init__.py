"""Running the pipeline on this machine: the output dir's lock, the checks before anything is
written, the run itself with its progress lines, and what it records in ML Metadata about
itself. local_runner.py is the command line; inspection/summary.py prints the run's summary."""
