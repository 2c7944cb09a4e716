"""Which kind of session (static images or video) a config field applies to: a typed marker on the field.

``temporal_kern: Annotated[int, VIDEO_ONLY] = Field(...)``. :func:`only_for` reads it back, so a search refuses
a key set for the other kind (``search.config.check_family``): it would do nothing, and trials searching it
would be wasted. A subclass that redeclares the field without the marker makes it apply to both.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic.fields import FieldInfo


@dataclass(frozen=True)
class Only:
    kind: Literal["static", "video"]


STATIC_ONLY, VIDEO_ONLY = Only("static"), Only("video")


def only_for(info: FieldInfo) -> str | None:
    """The kind of session the field is marked for, None when it applies to both."""
    return next((marker.kind for marker in info.metadata if isinstance(marker, Only)), None)
