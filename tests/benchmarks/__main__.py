"""`python -m tests.benchmarks`: see tests/benchmarks/run.py and README.md."""
import sys

from tests.benchmarks.run import main

sys.exit(main())
