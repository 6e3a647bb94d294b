"""The end-to-end demo behind ``shipyard demo`` and ``make demo``."""
