"""``python -m lib.cli ...``: the same as the ``mediahook`` console command."""

import sys

from lib.cli import main

sys.exit(main())
