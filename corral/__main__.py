"""``python -m corral`` runs the CLI."""

import sys

from corral.cli.main import main

sys.exit(main())
