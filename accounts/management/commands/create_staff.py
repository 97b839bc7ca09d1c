import secrets
from datetime import date

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import Role, Staff, Store
from accounts.services import agreement_record, staff_create


class Command(BaseCommand):
    help = (
        "Create a staff account: `create_staff USERNAME --role ROLE [--store CODE]`. Prints a generated "
        "password unless --password is given. Running it again for an existing username changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--store", metavar="CODE", help="store code (required unless --role hq)")
        parser.add_argument("--name", default="", help="display name, e.g. 沈静怡")
        parser.add_argument("--email", default="")
        parser.add_argument("--password", help="the password (default: a generated one, printed once)")
        parser.add_argument(
            "--agreement-signed-on", type=date.fromisoformat, metavar="YYYY-MM-DD",
            help="record the signed confidentiality agreement (without one, member data is shown masked)",
        )
        parser.add_argument("--superuser", action="store_true", help="also give access to /admin/ (HQ only)")

    def handle(self, *args, username, role, store, name, email, password, agreement_signed_on, superuser, **options):
        if Staff.objects.filter(username=username).exists():
            self.stdout.write(f"Staff {username} already exists; nothing changed.")
            return
        if superuser and role != Role.HQ:
            raise CommandError("Only HQ staff may be superusers.")
        home = None
        if store:
            home = Store.objects.filter(code__iexact=store.strip()).first()
            if home is None:
                raise CommandError(f"No store with code {store!r}. Create it with `manage.py create_store`.")
        elif role != Role.HQ:
            raise CommandError("--store is required for every role but hq.")
        generated = password is None
        password = password or secrets.token_urlsafe(12)
        try:
            with transaction.atomic():
                staff = staff_create(username=username, role=role, store=home, password=password,
                                     display_name=name, email=email)
                if superuser:
                    staff.is_staff = staff.is_superuser = True
                    staff.save(update_fields=["is_staff", "is_superuser"])
                if agreement_signed_on:
                    agreement_record(staff=staff, signed_on=agreement_signed_on, by=None)
        except (ValidationError, ValueError) as e:
            messages = e.messages if isinstance(e, ValidationError) else [str(e)]
            raise CommandError(" ".join(messages)) from e
        where = f" at {home.code}" if home else ""
        self.stdout.write(self.style.SUCCESS(f"Created {staff.get_role_display()} {username}{where}."))
        if generated:
            self.stdout.write(f"Password: {password}  (shown once; they can change it after logging in)")
        if not agreement_signed_on:
            self.stdout.write("No confidentiality agreement recorded yet: member data stays masked for them.")
