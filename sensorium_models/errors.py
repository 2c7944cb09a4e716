"""One exception type for every user mistake, so the CLI can print one line and exit 2."""
from __future__ import annotations

from typing import Any


class UserError(Exception):
    """Bad input from the user: a path, a file's contents, a config key or value.

    The message names the file, key or value, what was expected and what was found.
    The CLI prints it without a traceback and exits with status 2.
    """


def expect(condition: bool, message: str) -> None:
    """Raise :class:`UserError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise UserError(message)


def validation_message(err, prefix: str, schema=None) -> str:
    """One line naming the key of pydantic's first complaint (and how many more there are).

    Of a union's tries the deepest is reported, and union member tags ("constrained-int", "list[...]") are
    left out of the key, which keeps field names and list positions only. An unknown key gets the closest
    field name of ``schema`` (a pydantic model) as a suggestion; a value found is cut to one short line.
    """
    errors = err.errors()
    first = max(errors, key=lambda error: len(error["loc"]))
    parts = [str(p) for p in first["loc"] if isinstance(p, int) or str(p).isidentifier()]
    key = ".".join([prefix, *parts])
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key" + did_you_mean(parts[-1] if parts else "", field_names(schema))
    said_found = "found" in msg or first["type"] in ("extra_forbidden", "missing") or not first["loc"]
    found = "" if said_found else f" (found {shorten(repr(first['input']))})"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{key}: {msg}{found}{more}"


def field_names(schema) -> set[str]:
    """Every field name of a pydantic model and of the models nested in it."""
    if schema is None or not hasattr(schema, "model_fields"):
        return set()
    names = set(schema.model_fields)
    for info in schema.model_fields.values():
        names |= field_names(info.annotation)
    return names


def did_you_mean(word: str, options) -> str:
    """``"; did you mean 'x'?"`` for the option closest to ``word``, or nothing when none is close."""
    import difflib

    close = difflib.get_close_matches(word, sorted(options), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def validated(schema, value, block: str):
    """``schema.model_validate(value)`` unless ``value`` already is one; a pydantic ``ValidationError`` becomes
    a one-line :class:`UserError` naming ``<block>.<key>``, what was expected and what was found."""
    from pydantic import ValidationError

    if isinstance(value, schema):
        return value
    try:
        return schema.model_validate(value)
    except ValidationError as err:
        raise UserError(validation_message(err, block, schema)) from None


def shorten(value: Any, limit: int = 80) -> str:
    """``value`` as text, cut to ``limit`` characters so an error message stays one readable line."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"
