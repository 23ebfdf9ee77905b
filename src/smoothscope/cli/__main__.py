"""``python -m smoothscope.cli``: the console script."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
