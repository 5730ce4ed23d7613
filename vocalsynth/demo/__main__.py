"""``python -m vocalsynth.demo [--port P] [--host H] [--voice V]``."""

import sys

from vocalsynth.demo.cli import main

sys.exit(main())
