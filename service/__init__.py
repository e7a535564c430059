"""Entry points: the ``verirag`` command line (and, later, the REST API)."""
