"""``python -m orchestrator.backtest``: the same as ``premarket backtest``."""

import sys

from orchestrator.backtest.cli import main

sys.exit(main())
