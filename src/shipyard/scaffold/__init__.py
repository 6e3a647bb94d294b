"""Project scaffolding: ``shipyard init`` makes a Shipyard project that works at once.

:mod:`.render` turns the templates (package data under ``templates/``) into files, :mod:`.notebook`
reads a user's notebook into a draft module and writes the project's notebook, :mod:`.naming` checks the
project and package names, and :mod:`.project` plans the project (every input checked, nothing written)
and then creates it: files, sample data, git, the store, ``shipyard add``, the initial commit.
"""
