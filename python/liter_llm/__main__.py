"""``python -m liter_llm``: the ``liter-llm`` command line (see :mod:`liter_llm.cli`)."""

import sys

from liter_llm.cli import main

if __name__ == "__main__":
    sys.exit(main())
