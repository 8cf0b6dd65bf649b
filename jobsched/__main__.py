"""`python -m jobsched` runs the command line."""

import sys

from jobsched.cli import main

# Guarded: worker processes (anyio.to_process) load the parent's main module as __mp_main__.
if __name__ == "__main__":
    sys.exit(main())
