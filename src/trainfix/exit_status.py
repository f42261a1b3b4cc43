"""Exit statuses of `python -m trainfix.train` (README, "What happens when...").

A script or scheduler can tell a user's mistake from a fault of the machine and from a failed run.
Success, a skipped (finished or running elsewhere) run and a run that diverged all exit 0: the
verdict is in run.json.
"""

EXIT_FAILED = 1  # training failed (an error while training); also a sweep in which any job failed
EXIT_CONFIG = 2  # a configuration mistake: bad value, unknown option or key, a folder holding another configuration
EXIT_DATA = 3  # dataset files missing, damaged or not the official ones
EXIT_STORAGE = 4  # the output location is read-only, full or gone
