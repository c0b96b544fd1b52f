"""``python -m stance`` runs the CLI."""

import sys

from stance.cli import main

sys.exit(main())
