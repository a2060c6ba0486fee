import sys

from backscatter.cli.main import main

sys.exit(main())
