"""``python -m shipyard``: the same as the ``shipyard`` command."""

from .cli.console_script import main

main()
