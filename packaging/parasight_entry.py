"""The bundle's entry point: ``parasight`` opens the window, ``parasight CMD ...`` is the CLI."""

import sys

from parasight_desktop.cli import main

if __name__ == "__main__":
    sys.exit(main())
