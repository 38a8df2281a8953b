"""The image's entry point (``laeringslop``, installed with the wheel): one name for each
process a deployment runs, so compose.yaml, systemd units and the Dockerfile agree.

    laeringslop web        gunicorn with the packaged settings (lti_tool.gunicorn_conf)
    laeringslop worker     the outbox worker (scores, notices, result reads)
    laeringslop migrate    the schema to the newest version (run before web and worker)
    laeringslop check      only check the settings (before a reload: systemd's ExecReload)
    laeringslop <command>  anything else, as given (``laeringslop flask --app lti_tool …``)

Each replaces this process (``exec``), so signals reach gunicorn or the worker directly.
Settings that cannot work stop ``web``, ``worker``, ``migrate`` and ``check`` before that,
with one log line saying what to change and exit status 78 (``settings.EXIT_BAD_SETTINGS``).
"""

from __future__ import annotations

import os
import shutil
import sys

COMMANDS = {
    "web": ["gunicorn", "-c", "python:lti_tool.gunicorn_conf", "lti_tool:create_app()"],
    "worker": ["flask", "--app", "lti_tool", "worker"],
    "migrate": ["flask", "--app", "lti_tool", "db", "upgrade"],
}


def command_for(args: list[str]) -> list[str]:
    """What ``laeringslop ARGS`` runs."""
    if not args:
        raise SystemExit("usage: laeringslop web | worker | migrate | check | <command> [args…]")
    if args[0] in COMMANDS:
        return [*COMMANDS[args[0]], *args[1:]]
    return args


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    checking = args[:1] == ["check"]
    command = [] if checking else command_for(args)
    if checking or args[0] in COMMANDS:  # the tool's own processes: not a `tar` of the backup
        from lti_tool.settings import settings_or_exit

        settings_or_exit()
    if checking:
        print("laeringslop: the settings can work")
        return
    # the tools installed beside this script (the image's virtual environment) first
    here = os.path.dirname(os.path.abspath(sys.argv[0]))
    program = shutil.which(command[0], path=os.pathsep.join([here, os.environ.get("PATH", "")]))
    if program is None:
        raise SystemExit(f"laeringslop: {command[0]}: command not found")
    os.execv(program, [program, *command[1:]])  # noqa: S606 - the operator's own command
