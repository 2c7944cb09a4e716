"""One module per command group of ``sensorium-search``; each has ``register(subparsers)``.

Names follow one scheme: the command is ``args.command``, a group's subcommand ``args.action``, and the
handler of ``COMMAND [ACTION]`` is ``_<ACTION or COMMAND>`` (``search launch`` → ``_launch``, ``ui`` → ``_ui``).
Options several commands take are defined once, in ``options``. Handlers import heavy libraries (torch, ray,
mlflow) inside themselves, so ``--help`` stays instant.
"""
