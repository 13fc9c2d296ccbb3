"""The ``newsroom`` command line: operate a running Newsroom (dead letters, ...)."""
