"""The ``backscatter`` command line: thin subcommand modules over library functions."""
