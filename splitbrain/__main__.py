import sys

from splitbrain.cli import main

sys.exit(main())
