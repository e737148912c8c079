import sys

from orchbench.cli import main

sys.exit(main())
