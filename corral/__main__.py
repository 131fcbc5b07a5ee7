"""``python -m corral`` runs the CLI."""

import sys

from corral.cli import main

sys.exit(main())
