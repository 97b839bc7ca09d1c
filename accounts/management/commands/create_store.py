from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Store
from accounts.services import store_create


class Command(BaseCommand):
    help = "Create a store (门店). Running it again with the same code changes nothing."

    def add_arguments(self, parser):
        parser.add_argument("code", help="store code, e.g. SH01 (stored upper-case)")
        parser.add_argument("name", help="store name, e.g. 上海静安店")
        parser.add_argument("--region", default="", help="region, e.g. 华东")
        parser.add_argument("--address", default="", help="street address")

    def handle(self, *args, code, name, region, address, **options):
        candidate = Store(code=code.strip().upper(), name=name.strip(), region=region.strip(), address=address.strip())
        try:
            candidate.full_clean(validate_unique=False)
        except ValidationError as e:
            raise CommandError("; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in e.message_dict.items())) from e
        store, created = store_create(
            code=candidate.code, name=candidate.name, region=candidate.region, address=candidate.address
        )
        if created:
            self.stdout.write(self.style.SUCCESS(f"Created store {store.code} {store.name}."))
        else:
            self.stdout.write(f"Store {store.code} already exists ({store.name}); nothing changed.")
            if store.name != candidate.name:
                self.stdout.write(self.style.WARNING(
                    f"Its name on file is {store.name!r}, not {candidate.name!r}: edit it in the admin if it changed."
                ))
