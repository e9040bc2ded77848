# One image for web and worker. Dependencies are the pins in pyproject.toml.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
open('/tmp/requirements.txt', 'w').write('\n'.join(p['dependencies']))" \
 && pip install --no-cache-dir -r /tmp/requirements.txt
COPY . .
# The same storage as at run time (DEBUG off: the compressed manifest); collectstatic needs no secrets.
RUN python manage.py collectstatic --no-input -v 0
RUN useradd --system --uid 10001 qbsync && mkdir -p /app/var && chown qbsync /app/var
USER qbsync
EXPOSE 8000
CMD ["gunicorn", "qbsync.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
