"""The bundle's entry point: the same as the `opserv-desktop` command."""
from desktop_app.cli import main

raise SystemExit(main())
