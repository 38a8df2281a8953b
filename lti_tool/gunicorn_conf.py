"""gunicorn settings for production, shipped in the package:

    gunicorn -c python:lti_tool.gunicorn_conf 'lti_tool:create_app()'

GUNICORN_BIND, GUNICORN_WORKERS, GUNICORN_THREADS and FORWARDED_ALLOW_IPS override them.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = 30
accesslog = "-"
# %(U)s is the path without the query string: launch tokens (?lt=) stay out of the logs.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms'
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
