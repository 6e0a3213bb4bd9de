"""Entry point of one benchmark case's process: ``python -m vecbridge.bench.case CONFIG_JSON FD``."""

import sys

from vecbridge.bench.measure import case_main

if __name__ == "__main__":
    sys.exit(case_main(sys.argv[1:]))
