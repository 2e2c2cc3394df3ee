"""`python -m parity_cli ...`: the same as the installed `parity` command."""

import sys

from parity_cli.main import main

sys.exit(main())
