"""`python -m mlsecops` runs the command line."""

from mlsecops.cli import main

raise SystemExit(main())
