"""Reading a saved model folder's ``config.json``: the checks every model kind shares."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_model_config(
    config_file: Path, *, source: str, fmt: str, version: int, error: type[Exception]
) -> dict[str, Any]:
    """The JSON object in ``config_file``, refused with ``error(message, source=source)`` when it is
    unreadable, not a ``fmt`` config, or of another format ``version``."""
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise error(f"unreadable {config_file.name}: {e}", source=source) from None
    if not isinstance(config, dict) or config.get("format") != fmt:
        raise error(f"{config_file.name} is not a {fmt} config", source=source)
    if config.get("version") != version:
        raise error(
            f"config version {config.get('version')!r}; this vocalsynth reads version {version}",
            source=source,
        )
    return config
