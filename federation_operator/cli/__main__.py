"""``python -m federation_operator.cli``: the same as the ``fedctl`` command."""

from __future__ import annotations

import sys

from federation_operator.cli import main

if __name__ == "__main__":
    sys.exit(main())
