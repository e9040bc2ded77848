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
# var/ holds beat's schedule and the sandbox's data at run time.
RUN useradd --system --uid 10001 qbsync && mkdir -p /app/var && chown -R qbsync /app/var
USER qbsync
EXPOSE 8000
# The web tier by default; docker-compose.yml runs the worker and beat from the same image. gunicorn reads
# WEB_CONCURRENCY for its worker count.
CMD ["gunicorn", "qbsync.wsgi:application", "--bind", "0.0.0.0:8000"]
