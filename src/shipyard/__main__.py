"""``python -m shipyard``: the same as the ``shipyard`` command."""

from .cli.main import main

main()
