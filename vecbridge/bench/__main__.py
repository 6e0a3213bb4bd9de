"""``python -m vecbridge.bench``: the same as ``vecbridge bench``."""

import sys

from vecbridge.bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
