"""``maestro.backends.django.contrib``: aliases of the documented helpers."""
