"""The ``outlayer`` command line."""
