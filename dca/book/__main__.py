"""``python -m dca.book``: see :mod:`dca.book.cli`."""

import sys

from dca.book.cli import main

sys.exit(main())
