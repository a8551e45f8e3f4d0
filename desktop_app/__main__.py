"""`python -m desktop_app`: the same as the `opserv-desktop` command."""
from desktop_app.cli import main

raise SystemExit(main())
