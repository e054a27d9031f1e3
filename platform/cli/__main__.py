"""`python -m vistapass.platform.cli`: the `vistapass` command, for child processes."""

from vistapass.platform.cli import main

main()
