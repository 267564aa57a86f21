"""`python -m streams.cli COMMAND`: the console script without installing it."""

import sys

from streams.cli.main import main

sys.exit(main())
