from django.apps import AppConfig


class VipcrmConfig(AppConfig):
    """The project's plumbing (no models): connects the login signal of vipcrm.security at start-up,
    so the idle clock of a session starts with its login however the login happens."""

    name = "vipcrm"
    verbose_name = "VIP CRM"

    def ready(self) -> None:
        from . import security  # noqa: F401
