"""Entry script of the frozen dfviewer bundle (see dfviewer.spec).

It runs ``dfviewer.cli.main.main`` like the installed ``dfviewer`` command. With the
environment variable ``DFVIEWER_BUNDLE_CHECK=1`` it instead prints a JSON report of what
the bundle contains and can load (resources, DICOM decoders, Qt plugins) and exits
non-zero if something is missing; packaging/smoke.sh uses that.
"""

import multiprocessing
import os
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    if os.environ.get("DFVIEWER_BUNDLE_CHECK"):
        from bundle_check import main as check

        sys.exit(check())
    from dfviewer.cli.main import main

    sys.exit(main())
