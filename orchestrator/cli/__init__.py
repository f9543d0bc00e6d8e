"""The ``premarket`` command: ``main`` dispatches to one module per subcommand."""
