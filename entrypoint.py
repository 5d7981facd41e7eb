#!/usr/bin/env python3
"""The container's ENTRYPOINT: the GitHub Action with no arguments, the mlsecops CLI with some.

Thin on purpose: everything is in `mlsecops.action.launch`, where it is tested.
"""

import sys

from mlsecops.action.launch import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
