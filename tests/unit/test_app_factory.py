"""The app factory (``lti_tool.create_app``): what loading the app costs every worker."""

from __future__ import annotations

import os
import subprocess
import sys

#: Libraries only some requests need, imported when first needed: each costs every web
#: worker megabytes of resident memory it would otherwise carry (issue 15's ≤ 150 MB).
IMPORTED_WHEN_NEEDED = ("jsonschema", "openpyxl", "reportlab", "qrcode")


def test_a_worker_loading_the_app_leaves_the_rarely_needed_libraries_unimported(tmp_path):
    probe = (
        "import sys, lti_tool; lti_tool.create_app(); "
        f"print(sorted(m for m in {IMPORTED_WHEN_NEEDED!r} if m in sys.modules))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path}/probe.db", REDIS_URL="")
    env.update(APP_ENV="test", INSTANCE_PATH=str(tmp_path), KEYS_DIR=str(tmp_path / "keys"))
    done = subprocess.run(  # noqa: S603 - the tool's own code, in a fresh interpreter
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
