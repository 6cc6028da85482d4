"""``python -m parasight_desktop.ui`` opens the window."""

from .app import main

raise SystemExit(main())
