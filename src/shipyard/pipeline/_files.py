"""The names of the files and folders a workspace is made of, in one place.

Kept free of imports so that the status memo, which runs before YAML or the store is loaded, shares
them with the modules that parse and write these files.
"""

PIPELINE_FILE = "shipyard.yaml"
PARAMS_FILE = "params.yaml"
LOCK_FILE = "shipyard.lock"
POINTER_SUFFIX = ".ship"

# Never searched for pointer files: version control, Shipyard's store, environments, caches.
SKIP_DIRS = frozenset({".git", ".shipyard", ".venv", "node_modules", "__pycache__"})
# Left out when a tracked directory is hashed: they change without the data changing.
IGNORED_IN_DATA = frozenset({".git", ".shipyard", "__pycache__", ".ipynb_checkpoints"})
