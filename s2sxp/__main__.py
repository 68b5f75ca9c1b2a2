"""python -m s2sxp: the command line (see s2sxp.cli)."""
import sys

from .cli import main

sys.exit(main())
