# Læringsløp: the production image, installed from the tool's wheel alone (no source tree at
# run time: the migrations and the gunicorn settings are in the package). compose.yaml runs
# it as migrate, web and worker; by hand, with the same environment and volume:
# (config/example.env's PROMETHEUS_MULTIPROC_DIR, /run/laeringslop-metrics, is the
# user's; shared by web and worker only as a volume, as compose.yaml mounts it)
#   docker run --env-file config/example.env -v laeringslop:/var/lib/laeringslop IMAGE migrate
#   docker run --env-file config/example.env -v laeringslop:/var/lib/laeringslop IMAGE \
#       flask --app lti_tool keys rotate
#   docker run --env-file config/example.env -v laeringslop:/var/lib/laeringslop -p 8000:8000 IMAGE
#   docker run --env-file config/example.env -v laeringslop:/var/lib/laeringslop IMAGE worker
# Secrets (SECRET_KEY, DATABASE_URL's password, METRICS_TOKEN) come from the environment
# at run time, never from the image. CI lints this file with hadolint (.ci/run).

# 1. Build: the wheel from the sources, then a virtual environment with the wheel and its
#    dependencies (binary wheels: no compiler is needed, and none reaches the image).
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY lti_tool ./lti_tool
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv --without-pip /opt/laeringslop \
 && python -m pip --python /opt/laeringslop/bin/python install /wheels/lti_tool-*.whl

# 2. The image: the slim base, the virtual environment (no pip, no sources, no wheel
#    files, no build tools), a user without rights, and the data volume.
FROM python:3.11-slim

ENV PATH=/opt/laeringslop/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    APP_ENV=production \
    KEYS_DIR=/var/lib/laeringslop/keys INSTANCE_PATH=/var/lib/laeringslop/instance

RUN groupadd --gid 10001 laeringslop \
 && useradd --uid 10001 --gid 10001 --create-home --shell /usr/sbin/nologin laeringslop \
 && mkdir -p /var/lib/laeringslop/keys /var/lib/laeringslop/instance /run/laeringslop-metrics \
 && chown -R 10001:10001 /var/lib/laeringslop /run/laeringslop-metrics \
 && chmod 700 /var/lib/laeringslop/keys

COPY --from=build /opt/laeringslop /opt/laeringslop

USER 10001:10001
WORKDIR /home/laeringslop
# The tool's private keys and credential keys: keep them on a volume (shared by every host
# of the tool, and backed up: see "Backup and restore" in the README).
VOLUME ["/var/lib/laeringslop"]
EXPOSE 8000
HEALTHCHECK CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=5)"]
ENTRYPOINT ["laeringslop"]
CMD ["web"]
