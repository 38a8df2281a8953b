# Læringsløp: production image. Migrations run as a separate step, never at start:
#   docker run --env-file config/example.env -v laeringslop:/var/lib/laeringslop IMAGE \
#       alembic upgrade head
#   docker run --env-file config/example.env -v laeringslop:/var/lib/laeringslop IMAGE \
#       flask --app lti_tool keys rotate
#   docker run --env-file config/example.env -v laeringslop:/var/lib/laeringslop -p 8000:8000 IMAGE
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 APP_ENV=production \
    KEYS_DIR=/var/lib/laeringslop/keys INSTANCE_PATH=/var/lib/laeringslop/instance

RUN useradd --create-home --uid 1000 laeringslop \
 && mkdir -p /var/lib/laeringslop/keys /var/lib/laeringslop/instance \
 && chown -R laeringslop /var/lib/laeringslop && chmod 700 /var/lib/laeringslop/keys

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY lti_tool ./lti_tool
COPY migrations ./migrations
COPY config ./config
RUN pip install --no-cache-dir .

USER laeringslop
# The tool's private keys: keep them on a volume (shared by every host of the tool).
VOLUME ["/var/lib/laeringslop"]
EXPOSE 8000
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["gunicorn", "-c", "config/gunicorn.conf.py", "lti_tool:create_app()"]
