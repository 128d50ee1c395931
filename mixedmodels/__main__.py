"""``python -m mixedmodels``: see :mod:`mixedmodels.cli`."""

import sys

from .cli import main

sys.exit(main())
