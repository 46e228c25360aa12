from django.apps import AppConfig


class SamplesConfig(AppConfig):
    name = "maestro_e2e.samples"
    label = "samples"
    default_auto_field = "django.db.models.BigAutoField"
