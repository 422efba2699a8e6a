"""``python -m varbench``: the command line (:func:`varbench.cli.main`)."""

import sys

from varbench.cli import main

sys.exit(main())
