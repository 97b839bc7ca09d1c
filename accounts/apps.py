from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("门店与员工")

    def ready(self) -> None:
        _audit_commands()


SERVERS = {"runserver", "testserver"}


def _audit_commands() -> None:
    """Run every management command inside `running_command`, so what it writes to the audit log
    names the command and the OS user, whether or not a staff account was given (`--user`).

    Done once here rather than in each command, so a command added later cannot forget it.
    """
    from django.core.management.base import BaseCommand

    from .services import running_command

    if getattr(BaseCommand.execute, "audited", False):
        return
    execute = BaseCommand.execute

    def audited_execute(self, *args, **options):
        name = self.__module__.rsplit(".", 1)[-1]
        if name in SERVERS:  # the requests it serves are web work, recorded as such
            return execute(self, *args, **options)
        with running_command(name):
            return execute(self, *args, **options)

    audited_execute.audited = True
    BaseCommand.execute = audited_execute
