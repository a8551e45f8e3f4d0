"""Performance benchmarks (issue 5); not part of the default test run. See README.md."""
