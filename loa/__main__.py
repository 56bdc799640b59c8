import sys

from loa.cli import main

sys.exit(main())
