"""``python -m iga.cli ...``: the same as the ``iga`` console script."""

import sys

from iga.cli import main

sys.exit(main())
