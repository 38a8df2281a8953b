# Læringsløp: production image, installed from the tool's wheel (no source tree at run time:
# the migrations and the gunicorn settings are in the package). Migrations run as a
# separate step, never at start:
#   docker run --env-file config/example.env -v laeringslop:/var/lib/laeringslop IMAGE \
#       flask --app lti_tool db upgrade
#   docker run --env-file config/example.env -v laeringslop:/var/lib/laeringslop IMAGE \
#       flask --app lti_tool keys rotate
#   docker run --env-file config/example.env -v laeringslop:/var/lib/laeringslop -p 8000:8000 IMAGE

# The wheel, built from the sources.
FROM python:3.11-slim AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY lti_tool ./lti_tool
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# The image: the wheel and its dependencies, nothing else from the repository.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 APP_ENV=production \
    KEYS_DIR=/var/lib/laeringslop/keys INSTANCE_PATH=/var/lib/laeringslop/instance

RUN useradd --create-home --uid 1000 laeringslop \
 && mkdir -p /var/lib/laeringslop/keys /var/lib/laeringslop/instance \
 && chown -R laeringslop /var/lib/laeringslop && chmod 700 /var/lib/laeringslop/keys

COPY --from=wheel /wheels /tmp/wheels
RUN pip install --no-cache-dir /tmp/wheels/*.whl && rm -rf /tmp/wheels

USER laeringslop
WORKDIR /home/laeringslop
# The tool's private keys: keep them on a volume (shared by every host of the tool).
VOLUME ["/var/lib/laeringslop"]
EXPOSE 8000
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["gunicorn", "-c", "python:lti_tool.gunicorn_conf", "lti_tool:create_app()"]
