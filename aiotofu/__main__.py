"""``python -m aiotofu``: the same as the ``aiotofu`` command."""

import sys

from .cli import main

sys.exit(main())
