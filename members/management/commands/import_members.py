"""manage.py import_members FILE [--store CODE] [--dry-run] [--user USERNAME]"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError

from accounts.models import Staff, Store
from members.imports import MEMBERS, import_commit, import_preview, max_bytes


class ImportCommand(BaseCommand):
    """Shared by import_members and import_purchases: read the file, preview or commit, report."""

    kind = MEMBERS

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="CSV (UTF-8, UTF-8 with BOM or GBK) or XLSX file.")
        parser.add_argument("--store", metavar="CODE", help="Store code for every row without a store column.")
        parser.add_argument("--dry-run", action="store_true", help="Check the file and report; write nothing.")
        parser.add_argument(
            "--user",
            metavar="USERNAME",
            help="Import as this staff member: recorded in the audit log, and a store user may only import "
            "into their own store. Without it the import acts for HQ with no named actor.",
        )

    def handle(self, *args, **options) -> None:
        path = Path(options["file"])
        try:
            # The same size limit as the upload page, checked before the file is read.
            if path.stat().st_size > max_bytes():
                raise CommandError(f"{path} is larger than {max_bytes() // (1024 * 1024)} MB (IMPORT_MAX_BYTES).")
            data = path.read_bytes()
        except OSError as e:
            raise CommandError(f"Cannot read {path}: {e}") from None
        store = None
        if options["store"]:
            try:
                store = Store.objects.get(code__iexact=options["store"].strip())
            except Store.DoesNotExist:
                raise CommandError(f"No store with code {options['store']!r}.") from None
        user = None
        if options["user"]:
            try:
                user = Staff.objects.select_related("store").get(username=options["user"])
            except Staff.DoesNotExist:
                raise CommandError(f"No staff member {options['user']!r}.") from None
            if not user.is_store_lead:
                raise CommandError(f"{user.username} may not import (VIP specialist, manager or HQ only).")
        if options["dry_run"]:
            result = import_preview(kind=self.kind, data=data, filename=path.name, store=store, viewer=user)
        else:
            try:
                result = import_commit(kind=self.kind, data=data, filename=path.name, store=store, by=user)
            except IntegrityError as e:
                # Someone wrote the same card, phone or receipt between the check and the insert.
                raise CommandError(f"The data changed while importing ({e}); nothing was written. Run again.") from None
        for line in result.error_lines():
            self.stderr.write(line)
        if result.ignored_columns:
            self.stdout.write("Ignored columns: " + ", ".join(result.ignored_columns))
        self.stdout.write(result.summary())
        if not result.is_valid:
            raise CommandError(f"{len(result.file_errors) + result.error_rows} problem(s) found; nothing was written.")
        if options["dry_run"]:
            self.stdout.write(self.style.SUCCESS("Dry run: the file is good; nothing was written."))
        else:
            extra = f", {result.tier_changes} imported tier(s)" if result.tier_changes else ""
            self.stdout.write(
                self.style.SUCCESS(
                    f"Imported: {result.counts['new']} new, {result.counts['updated']} updated{extra}; "
                    f"tiers replayed for {result.members_replayed} member(s)."
                )
            )


class Command(ImportCommand):
    help = (
        "Import members from a CSV (UTF-8, UTF-8 with BOM or GBK) or XLSX file, all or nothing. "
        "Columns (English or Chinese headers): card_no/卡号, name/姓名, phone/手机, joined_on/入会日期 (required); "
        "store/门店 (required unless --store); gender/性别, birthday/生日, birthday_lunar/农历, "
        "consultant/顾问 (username), tier/等级 (A/B/C, new members only), marketing_consent/营销同意. "
        "A card number already on file with the same data is skipped; with a different phone, store or join "
        "date it is an error row; a different name, gender, birthday, lunar flag, consent or consultant is "
        "updated (empty cells change nothing). Every bad row is listed; nothing is written if any is bad. "
        "Importing the same file again adds nothing."
    )
    kind = MEMBERS
