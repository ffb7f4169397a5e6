"""The test suite: a package, so its helpers are imported by absolute name (tests.X)."""
