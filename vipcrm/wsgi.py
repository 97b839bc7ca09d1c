import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vipcrm.settings.production")
application = get_wsgi_application()

# Load what the first requests would, then keep it out of the garbage collector's full passes:
# those were the slowest requests of the busiest pages (issue 14, vipcrm/warmup.py).
from vipcrm.warmup import warm_up  # noqa: E402 - after Django is set up

warm_up()
