"""The module of the PythonModel example (docs/examples/models_python.py): a class another process can import."""
