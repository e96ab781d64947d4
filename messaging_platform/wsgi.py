import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messaging_platform.settings")

_full = get_wsgi_application()  # sets Django up before the lean entry's imports

from messaging_platform.api.lean import with_lean_paths  # noqa: E402
from messaging_platform.raw_entry import RawApiHandler  # noqa: E402

# The integrator's send endpoints and carrier webhooks skip the page middlewares
# (messaging_platform/api/lean.py) and, for their common requests, the middleware chain itself
# (messaging_platform/raw_entry.py); everything else is Django's handler as configured.
application = with_lean_paths(_full, RawApiHandler())
