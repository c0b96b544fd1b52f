"""``python -m stance`` runs the CLI."""

import sys

from stance.cli import main

if __name__ == "__main__":
    sys.exit(main())
