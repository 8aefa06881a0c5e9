"""`python -m smsgw` runs the command-line interface."""

from smsgw.gateway.cli import main

raise SystemExit(main())
