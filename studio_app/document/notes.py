"""Sticky notes: free text placed on the canvas beside the graph (layout only, never deployed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NOTE_COLOR = (236, 214, 120)
"""The default colour: a muted yellow that reads on the dark and the light theme."""
MAX_TEXT = 20_000
"""Characters kept in one note (a note is a comment, not a document)."""


@dataclass
class Note:
    """A note's text, place and size, in scene coordinates."""

    id: str
    text: str = ""
    x: float = 0.0
    y: float = 0.0
    width: float = 220.0
    height: float = 120.0
    color: tuple[int, int, int] = NOTE_COLOR

    def copy(self, **changes: Any) -> Note:
        return Note(**{**vars(self), **changes})

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "x": round(self.x),
            "y": round(self.y),
            "width": round(self.width),
            "height": round(self.height),
            "color": list(self.color),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Note:
        """A note from a file; raises KeyError, TypeError or ValueError naming what is wrong."""
        if not isinstance(raw, dict):
            raise TypeError(f"a note is an object, got {type(raw).__name__}")
        text = raw.get("text", "")
        if not isinstance(text, str):
            raise TypeError(f"note {raw.get('id')!r}: text must be a string")
        color = tuple(int(c) for c in raw.get("color", NOTE_COLOR))
        if len(color) != 3:
            raise ValueError(f"note {raw.get('id')!r}: color needs 3 components, got {color}")
        return cls(
            id=str(raw["id"]),
            text=text[:MAX_TEXT],
            x=float(raw.get("x", 0)),
            y=float(raw.get("y", 0)),
            width=max(60.0, float(raw.get("width", 220))),
            height=max(40.0, float(raw.get("height", 120))),
            color=(color[0], color[1], color[2]),
        )
