"""Allow ``python3 -m fe2``."""

import sys

from fe2.cli import main

sys.exit(main())
