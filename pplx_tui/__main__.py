import sys

from pplx_tui.cli.main import main

sys.exit(main())
