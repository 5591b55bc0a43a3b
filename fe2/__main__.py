"""Allow ``python3 -m fe2``."""

import sys

from fe2.app.cli import main

sys.exit(main())
