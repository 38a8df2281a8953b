"""The tool's own processes started as production starts them (tests that run gunicorn or
the installed entry point in a subprocess)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def production_environment(folder: Path) -> dict[str, str]:
    """The least a production process needs, its SQLite database, keys and instance folder
    under ``folder``; nothing from the test run's own environment but PATH."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(folder),
        "APP_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "BASE_URL": "https://laeringslop.kommune.example",
        "DATABASE_URL": f"sqlite:///{folder}/data/lti_tool.sqlite3",
        "KEYS_DIR": str(folder / "data" / "keys"),
        "INSTANCE_PATH": str(folder / "data" / "instance"),
    }
