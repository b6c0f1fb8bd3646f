#!/usr/bin/python3
"""The `edgeyolo` command in images whose packages were installed with `pip --target` (no console script).

The interpreter is named directly: the runtime images hold no /usr/bin/env."""

import sys

from edgeyolo.cli import main

if __name__ == "__main__":
    sys.exit(main())
