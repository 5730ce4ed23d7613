"""Run the vocalsynth vocal-creation demo: ``python demo/app.py [--port P] [--host H] [--voice V]``.

The app itself is `vocalsynth.demo.app` (also ``vocalsynth demo``); this file only launches it.
"""

import sys

from vocalsynth.demo.cli import main

if __name__ == "__main__":
    sys.exit(main())
