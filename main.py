"""Start NetBuilder: ``python main.py [PROJECT]`` (the same as the ``netbuilder`` command)."""

import sys

from netbuilder.cli import main

if __name__ == "__main__":
    sys.exit(main())
