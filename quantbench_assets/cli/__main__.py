"""`python -m quantbench_assets.cli ...`: the same entry point as the `quantbench` command."""
import sys

from quantbench_assets.cli import main

sys.exit(main())
