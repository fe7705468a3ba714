"""Server-sent events (the WHATWG ``text/event-stream`` format), decoded line by line: pure and
synchronous. ``SseDecoder.feed(line)`` returns a frame when a blank line ends one.

A frame has the ``id``, ``event``, ``data`` (its ``data:`` lines joined by ``\\n``) and
``retry`` (milliseconds) fields it carried, and ``comments`` (lines starting with ``:``, which
clients otherwise ignore: keep-alives, and the xgate stream's opening ``events after N``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["SseDecoder", "SseFrame"]


@dataclass(frozen=True, slots=True)
class SseFrame:
    id: str | None = None
    event: str | None = None
    data: str | None = None
    retry_ms: int | None = None
    comments: tuple[str, ...] = field(default=())


class SseDecoder:
    """Accumulates lines into frames (a frame without any field or comment is skipped)."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._id: str | None = None
        self._event: str | None = None
        self._data: list[str] = []
        self._retry: int | None = None
        self._comments: list[str] = []

    def feed(self, line: str) -> SseFrame | None:
        """One line (its end of line, if any, is ignored); a frame when the line is blank."""
        line = line.rstrip("\r\n")
        if not line:
            if (
                self._id is None
                and self._event is None
                and not self._data
                and self._retry is None
                and not self._comments
            ):
                return None
            frame = SseFrame(
                id=self._id,
                event=self._event,
                data="\n".join(self._data) if self._data else None,
                retry_ms=self._retry,
                comments=tuple(self._comments),
            )
            self._reset()
            return frame
        if line.startswith(":"):
            self._comments.append(line[1:].removeprefix(" "))
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id" and "\0" not in value:
            self._id = value
        elif name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        return None  # unknown fields are ignored, as the format says
