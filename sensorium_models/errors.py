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


def validation_message(err, prefix: str) -> str:
    """One line naming the key of pydantic's first complaint (and how many more there are).

    Of a union's tries the deepest is reported, and union member tags ("constrained-int", "list[...]") are
    left out of the key, which keeps field names and list positions only.
    """
    errors = err.errors()
    first = max(errors, key=lambda error: len(error["loc"]))
    parts = [str(p) for p in first["loc"] if isinstance(p, int) or str(p).isidentifier()]
    key = ".".join([prefix, *parts])
    msg = "unknown key" if first["type"] == "extra_forbidden" else first["msg"].removeprefix("Value error, ")
    found = "" if first["type"] in ("extra_forbidden", "missing") or not first["loc"] else f" (found {first['input']!r})"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{key}: {msg}{found}{more}"


def validated(schema, value, block: str):
    """``schema.model_validate(value)`` unless ``value`` already is one; a pydantic ``ValidationError`` becomes
    a one-line :class:`UserError` naming ``<block>.<key>``, what was expected and what was found."""
    from pydantic import ValidationError

    if isinstance(value, schema):
        return value
    try:
        return schema.model_validate(value)
    except ValidationError as err:
        raise UserError(validation_message(err, block)) from None
