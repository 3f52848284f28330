"""Studio's settings: recent files, NATS URL, autosave. A JSON file in the user's config folder
(``$RUNGRAPH_STUDIO_CONFIG`` overrides the folder; tests point it at a temporary one). No Qt.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
MAX_RECENT = 10


def config_dir() -> Path:
    override = os.environ.get("RUNGRAPH_STUDIO_CONFIG")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CONFIG_HOME")
    if not base and os.name == "nt":
        base = os.environ.get("APPDATA")
    return (Path(base) if base else Path.home() / ".config") / "rungraph" / "studio"


@dataclass
class Settings:
    recent_files: list[str] = field(default_factory=list)
    nats_url: str | None = None
    autosave_s: int = 30
    launch_local_services: bool = True
    use_mocks: bool = True
    store: str = "session"  # Deploy's embedded server: "session" or "document" (store_isolation)
    minimap: bool = True  # View > Minimap
    theme: str = "dark"  # View > Theme: "dark" or "light" (studio_app.theme.Theme)
    path: Path | None = None

    @classmethod
    def load(cls, folder: Path | None = None) -> Settings:
        path = (folder or config_dir()) / "settings.json"
        try:
            raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raw = {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable settings %s: %s", path, exc)
            raw = {}
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__ and k != "path"}
        try:
            settings = cls(**known)
        except TypeError as exc:
            log.warning("ignoring bad settings %s: %s", path, exc)
            settings = cls()
        settings.path = path
        return settings

    def save(self) -> None:
        if self.path is None:
            return
        data = {k: v for k, v in asdict(self).items() if k != "path"}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            log.warning("could not save settings to %s: %s", self.path, exc)

    def add_recent(self, path: str | os.PathLike[str]) -> None:
        p = str(Path(path).resolve())
        self.recent_files = [p, *[r for r in self.recent_files if r != p]][:MAX_RECENT]
        self.save()

    @property
    def folder(self) -> Path:
        """The folder this settings file lives in (Studio keeps its other state there)."""
        return self.path.parent if self.path else config_dir()

    @property
    def autosave_dir(self) -> Path:
        return self.folder / "autosave"
