"""One exception type for every user mistake, so the CLI can print one line and exit 2."""


class UserError(Exception):
    """Bad input from the user: a path, a file's contents, a config key or value.

    The message names the file, key or value, what was expected and what was found.
    The CLI prints it without a traceback and exits with status 2.
    """


def expect(condition: bool, message: str) -> None:
    """Raise :class:`UserError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise UserError(message)
