#!/usr/bin/env python3
"""The `edgeyolo` command in images whose packages were installed with `pip --target` (no console script)."""

import sys

from edgeyolo.cli import main

if __name__ == "__main__":
    sys.exit(main())
