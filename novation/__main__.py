"""``python -m novation``: the same command line as ``novation``."""

from novation.cli import main

main()
