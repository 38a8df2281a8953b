"""The Dockerfile, compose.yaml and the image's entry point agree with each other, without a
Docker engine (CI lints the Dockerfile with hadolint; test_installed_package runs the
Dockerfile's build and the entry point from a wheel)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import redis
import yaml

from lti_tool import entrypoint
from tests.redis_process import redis_server

ROOT = Path(__file__).resolve().parents[2]


def stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuation lines joined), stage by stage."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    found: list[list[str]] = []
    for line in lines:
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            found.append([])
        found[-1].append(line)
    return found


def test_the_image_is_built_in_stages_and_runs_from_the_wheel_as_a_user():
    build, final = stages()
    assert build[0].startswith("FROM python:3.11-slim AS build")
    assert any("pip wheel" in line for line in build)
    assert final[0] == "FROM python:3.11-slim"
    # only the virtual environment comes over: no sources, no wheel files
    copies = [line for line in final if line.startswith("COPY")]
    assert copies == ["COPY --from=build /opt/laeringslop /opt/laeringslop"]
    (user,) = [line for line in final if line.startswith("USER ")]
    uid = user.split()[1].split(":")[0]
    assert uid.isdigit() and int(uid) > 0
    joined = "\n".join(final)
    for tool in ("gcc", "build-essential", "apt-get install", "pip install"):
        assert tool not in joined  # no compilers, nothing installed in the image's stage
    assert not re.search(r"(SECRET|PASSWORD|TOKEN)\w*=", joined)  # secrets at run time only
    assert 'ENTRYPOINT ["laeringslop"]' in final and 'CMD ["web"]' in final


def test_the_image_makes_the_metrics_folder_the_example_settings_name_for_its_user():
    """config/example.env's PROMETHEUS_MULTIPROC_DIR, made in the image and the user's:
    ``docker run --env-file config/example.env`` would fail every process otherwise."""
    (named,) = re.findall(
        r"^PROMETHEUS_MULTIPROC_DIR=(\S+)$", (ROOT / "config/example.env").read_text(), re.M
    )
    _build, final = stages()
    (run,) = [line for line in final if line.startswith("RUN ") and "useradd" in line]
    assert re.search(rf"mkdir -p [^&]*{re.escape(named)}", run)
    assert re.search(rf"chown -R 10001:10001 [^&]*{re.escape(named)}", run)


def test_the_build_context_leaves_out_the_environment_the_keys_and_the_history():
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "keys", ".env", "instance"} <= ignored
    copied = {"pyproject.toml", "README.md", "lti_tool"}  # the build stage's COPY lines
    assert not ignored & copied


def test_compose_runs_postgres_redis_migrate_web_and_worker_in_order():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "migrate", "web", "worker"}
    for name in ("migrate", "web", "worker"):
        (command,) = services[name]["command"]
        assert command in entrypoint.COMMANDS
    assert services["migrate"]["command"] == ["migrate"]
    for name in ("web", "worker"):
        needs = services[name]["depends_on"]
        assert needs["migrate"] == {"condition": "service_completed_successfully"}
        assert needs["postgres"]["condition"] == needs["redis"]["condition"] == "service_healthy"
        environment = services[name]["environment"]
        assert environment["PROMETHEUS_MULTIPROC_DIR"] == "/run/laeringslop-metrics"
        assert environment["DATABASE_URL"].startswith("postgresql://")
        assert environment["REDIS_URL"] == "redis://redis:6379/0"
        assert environment["SECRET_KEY"].startswith("${SECRET_KEY:?")  # from .env, required
    # the metrics folder both write is the image's user's
    assert "uid=10001" in compose["volumes"]["metrics"]["driver_opts"]["o"]


def test_composes_redis_is_bounded_and_refuses_rather_than_drops_when_full(tmp_path):
    """Redis started with compose's own arguments (a real redis-server) holds at most
    512 MB and, full, refuses writes (the tool answers 503) instead of evicting a held
    login, a used nonce or a rate limit's count."""
    command = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["redis"]["command"]
    assert command[0] == "redis-server"
    with redis_server(tmp_path, *command[1:]) as url:
        client = redis.Redis.from_url(url, socket_timeout=5)
        assert client.config_get("maxmemory") == {"maxmemory": str(512 * 1024 * 1024)}
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        assert client.config_get("appendonly") == {"appendonly": "no"}
        client.close()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["web"], ["gunicorn", "-c", "python:lti_tool.gunicorn_conf", "lti_tool:create_app()"]),
        (["worker", "--once"], ["flask", "--app", "lti_tool", "worker", "--once"]),
        (["migrate"], ["flask", "--app", "lti_tool", "db", "upgrade"]),
        (["flask", "--app", "lti_tool", "keys", "rotate"], ["flask", "--app", "lti_tool", "keys", "rotate"]),  # noqa: E501
    ],
)  # fmt: skip
def test_the_entry_point_names_each_process(args, expected):
    assert entrypoint.command_for(args) == expected


def test_the_entry_point_says_how_to_use_it():
    with pytest.raises(SystemExit, match="usage: laeringslop web"):
        entrypoint.command_for([])
    with pytest.raises(SystemExit, match="no-such-program: command not found"):
        entrypoint.main(["no-such-program"])


# --- systemd (config/systemd): the same processes without containers --------------------

SYSTEMD = ROOT / "config" / "systemd"
UNITS = ("laeringslop-web", "laeringslop-worker")
LAERINGSLOP = "/opt/laeringslop/bin/laeringslop"


def unit(name: str) -> dict[str, dict[str, list[str]]]:
    """A unit file's settings, section by section (a key may be given more than once)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in (SYSTEMD / f"{name}.service").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


def example_env() -> dict[str, str]:
    text = (ROOT / "config" / "example.env").read_text()
    return dict(re.findall(r"^(\w+)=(.*)$", text, re.M))


def test_the_systemd_units_migrate_then_run_the_entry_points_processes():
    """Each unit migrates first (``ExecStartPre``: a failure is retried by ``Restart=``,
    as a database not up yet at boot), then runs its process as the entry point does, as
    a user of its own, with the settings from one environment file."""
    assert sorted(p.stem for p in SYSTEMD.glob("*.service")) == sorted(UNITS)
    for name in UNITS:
        sections = unit(name)
        service = sections["Service"]
        assert service["ExecStartPre"] == [f"{LAERINGSLOP} migrate"]
        (start,) = service["ExecStart"]
        program, command = start.split()
        assert program == LAERINGSLOP and command == name.removeprefix("laeringslop-")
        for process in (command, "migrate"):
            assert process in entrypoint.COMMANDS
        assert service["User"] == ["laeringslop"]
        assert service["EnvironmentFile"] == ["/etc/laeringslop/laeringslop.env"]
        assert service["NoNewPrivileges"] == ["yes"] and service["ProtectSystem"] == ["strict"]
        assert service["Restart"] == ["on-failure"]
        assert sections["Install"]["WantedBy"] == ["multi-user.target"]
        assert "Requires" not in sections["Unit"]  # a failed dependency is never retried
    web = unit("laeringslop-web")["Service"]
    assert web["Type"] == ["notify"]  # gunicorn's READY=1 once it listens
    assert web["Environment"] == ["GUNICORN_BIND=127.0.0.1:8000"]
    # a reload (new workers read the settings again) only when they can work
    assert web["ExecReload"] == [f"{LAERINGSLOP} check", "/bin/kill -s HUP $MAINPID"]


def test_the_systemd_units_give_the_folders_the_example_settings_name():
    """The keys and instance folder under the state directory, the metrics folder (shared
    by web and worker, kept while either runs) the runtime directory: the folders
    config/example.env names are the ones systemd makes, writable under ProtectSystem."""
    env = example_env()
    for name in UNITS:
        service = unit(name)["Service"]
        (state,) = service["StateDirectory"]
        for setting in ("KEYS_DIR", "INSTANCE_PATH"):
            assert env[setting].startswith(f"/var/lib/{state}/")
        assert service["RuntimeDirectory"] == [
            env["PROMETHEUS_MULTIPROC_DIR"].removeprefix("/run/")
        ]
        assert service["RuntimeDirectoryPreserve"] == ["yes"]


def test_the_readmes_commands_under_systemd_leave_the_metrics_folder_to_the_units():
    """A command run beside the units (``systemd-run`` with the environment file) has no
    metrics folder of its own and could not make one under /run: it must not be told of
    it, or the tool refuses to start (README, "Without containers: systemd")."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Without containers: systemd", 1)[1].split("\n### ", 1)[0]
    runs = re.findall(r"systemd-run (?:[^\n]*\\\n)*[^\n]*", section)
    assert runs
    for run in runs:
        assert "EnvironmentFile=/etc/laeringslop/laeringslop.env" in run
        assert "UnsetEnvironment=PROMETHEUS_MULTIPROC_DIR" in run
        assert "StateDirectoryMode=0700" in run and "User=laeringslop" in run


def test_systemd_finds_nothing_wrong_with_the_units(tmp_path):
    """``systemd-analyze verify`` (offline: no systemd need run here), with the entry point
    this test's environment installed in place of /opt/laeringslop's."""
    import shutil
    import subprocess
    import sys

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    laeringslop = Path(sys.executable).parent / "laeringslop"
    assert laeringslop.exists()
    for name in UNITS:
        text = (SYSTEMD / f"{name}.service").read_text()
        text = text.replace("/opt/laeringslop/bin/laeringslop", str(laeringslop))
        (tmp_path / f"{name}.service").write_text(text)
    done = subprocess.run(  # noqa: S603 - systemd's own checker
        [analyze, "verify", "--man=no", *(str(tmp_path / f"{n}.service") for n in UNITS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert not [line for line in done.stderr.splitlines() if "laeringslop" in line], done.stderr
