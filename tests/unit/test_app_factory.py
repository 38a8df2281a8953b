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


#: What only gunicorn's workers run: the master need not carry it.
WORKERS_ONLY = ("flask", "sqlalchemy", "psycopg", "redis", "jinja2", "cryptography", "limits")


def test_gunicorns_master_reads_its_settings_and_logs_without_the_app(tmp_path):
    """The master reads ``lti_tool.gunicorn_conf`` and logs through the tool's formatter:
    importing the package loads nothing more (``lti_tool.__getattr__``), so the master
    stays at gunicorn's own size (26 MB, not 69: bench/RESULTS.md)."""
    probe = (
        "import logging, logging.config, sys\n"
        "from lti_tool import gunicorn_conf as conf\n"
        "logging.config.dictConfig(conf.logconfig_dict)\n"
        "logging.getLogger('gunicorn.error').info('master line')\n"
        f"print(sorted(m for m in {WORKERS_ONLY!r} if m in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(LOG_FORMAT="json")
    done = subprocess.run(  # noqa: S603 - the tool's own code, in a fresh interpreter
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert '"message": "master line"' in done.stderr  # the tool's JSON formatter
    assert done.stdout.strip() == "[]"
