"""The ``atlas-orch`` command line, one module per command group (listener.cli.main holds
the root group and ``main``)."""
