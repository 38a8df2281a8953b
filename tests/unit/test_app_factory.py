"""The app factory (``lti_tool.create_app``): what loading the app costs every worker."""

from __future__ import annotations

import ast
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
WORKERS_ONLY = (
    "flask",
    "werkzeug",
    "sqlalchemy",
    "psycopg",
    "redis",
    "jinja2",
    "cryptography",
    "limits",
    "marshmallow",
    "babel",
    "pylti1p3",
    "prometheus_client",
)
#: The tool's modules the master loads: its log formatter and the settings' log levels.
MASTERS_OWN = {
    "lti_tool",
    "lti_tool.gunicorn_conf",
    "lti_tool.observability",
    "lti_tool.settings",
    "lti_tool.lti",
    "lti_tool.lti.allowed_hosts",
}


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
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'lti_tool'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(LOG_FORMAT="json")
    done = subprocess.run(  # noqa: S603 - the tool's own code, in a fresh interpreter
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert '"message": "master line"' in done.stderr  # the tool's JSON formatter
    libraries, own = done.stdout.splitlines()
    assert libraries == "[]"
    assert set(ast.literal_eval(own)) <= MASTERS_OWN


def test_an_error_while_the_app_loads_is_shown_not_taken_for_a_missing_factory(tmp_path):
    """A name missing while ``lti_tool.app_factory`` loads (an AttributeError: a typo, a
    library that dropped a name) reaches gunicorn, Flask and ``from lti_tool import
    create_app`` as an ImportError with its cause, not as "no create_app in lti_tool"."""
    probe = (
        "import importlib.abc, importlib.util, sys\n"
        "class Broken(importlib.abc.MetaPathFinder, importlib.abc.Loader):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name == 'lti_tool.navigation':\n"
        "            return importlib.util.spec_from_loader(name, self)\n"
        "    def create_module(self, spec):\n"
        "        return None\n"
        "    def exec_module(self, module):\n"
        "        import os\n"
        "        os.sepp  # the typo\n"
        "sys.meta_path.insert(0, Broken())\n"
        "import lti_tool\n"
        "try:\n"
        "    getattr(lti_tool, 'create_app', None)  # as Flask and gunicorn look\n"
        "except ImportError as exc:\n"
        "    print(type(exc.__cause__).__name__, exc)\n"
    )
    done = subprocess.run(  # noqa: S603 - the tool's own code, in a fresh interpreter
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("AttributeError lti_tool.app_factory cannot be loaded")
    assert "sepp" in done.stdout
