import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qbsync.settings.base")

# Imported after the settings module is chosen.
from qbsync.core.startup import require_runtime_secrets

require_runtime_secrets()

from django.core.asgi import get_asgi_application  # noqa: E402

application = get_asgi_application()
