"""`python -m metaflow_ode ...`: the command-line interface (see `metaflow_ode.cli`)."""

from .cli import main

raise SystemExit(main())
