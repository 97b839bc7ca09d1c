from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import models

from members.models import ProgramRules
from members.services import PROGRAM_RULE_FIELDS, program_rules_update

# The rules this command may change, in the order they are printed (DOMAIN §4); their checks are
# members.services.program_rules_update's, the same as the admin's and the API's.
KEYS = PROGRAM_RULE_FIELDS
# Changing these changes members' tiers, which only a replay of the ledger brings up to date.
TIER_KEYS = {"tier_a_min", "tier_b_min", "spend_window_days"}


def parse_value(field: models.Field, raw: str):
    """The text of `--set key=value` as the field's type, or a CommandError saying why not."""
    text = raw.strip().replace(",", "").replace("_", "")
    if isinstance(field, models.DecimalField):
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise CommandError(f"{field.name}: {raw!r} is not a number (e.g. 50000 or 50000.00).") from None
        if not value.is_finite():
            raise CommandError(f"{field.name}: {raw!r} is not a number.")
        places = Decimal(1).scaleb(-field.decimal_places)
        try:
            quantized = value.quantize(places)
        except InvalidOperation:
            raise CommandError(f"{field.name}: {raw!r} is too large.") from None
        # 60000 is stored and shown as 60000.00; more places than the field has is left to full_clean.
        return quantized if quantized == value else value
    try:
        value = int(text)
    except ValueError:
        raise CommandError(f"{field.name}: {raw!r} is not a whole number.") from None
    return value


class Command(BaseCommand):
    help = (
        "Print the program rules (会员计划规则), or change them with --set key=value (repeatable). "
        "Keys: " + ", ".join(KEYS) + "."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
            help="change one rule; repeat for several. Nothing is saved if any of them is wrong.",
        )

    def handle(self, *args, assignments, **options):
        if assignments:
            self.change(assignments)
        self.print_rules(ProgramRules.load())

    def change(self, assignments: list[str]) -> None:
        parsed: dict[str, object] = {}
        for assignment in assignments:
            key, sep, raw = assignment.partition("=")
            key = key.strip()
            if not sep:
                raise CommandError(f"{assignment!r}: expected KEY=VALUE, e.g. --set tier_a_min=60000.")
            if key not in KEYS:
                raise CommandError(f"Unknown rule {key!r}. Valid keys: {', '.join(KEYS)}.")
            parsed[key] = parse_value(ProgramRules._meta.get_field(key), raw)

        current = ProgramRules.load()
        before = {key: getattr(current, key) for key in parsed}
        try:
            rules, changed = program_rules_update(by=None, **parsed)
        except ValidationError as e:
            messages = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in e.message_dict.items())
            raise CommandError(f"{messages} Nothing was saved.") from e
        if not changed:
            self.stdout.write("Nothing changed: the rules already have these values.")
            return
        for key in changed:
            self.stdout.write(self.style.SUCCESS(f"{key}: {before[key]} → {getattr(rules, key)}"))
        if TIER_KEYS & set(changed):
            self.stdout.write(self.style.WARNING(
                "Tier thresholds or the spend window changed. Existing tiers stay as they are until "
                "`manage.py rebuild_tiers` replays the ledger with the new rules."
            ))

    def print_rules(self, rules: ProgramRules) -> None:
        rows = []
        for key in KEYS:
            field = ProgramRules._meta.get_field(key)
            rows.append((key, str(getattr(rules, key)), str(field.default), str(field.verbose_name)))
        widths = [max(len(row[i]) for row in rows + [("key", "value", "default", "")]) for i in range(3)]
        header = f"{'key':<{widths[0]}}  {'value':>{widths[1]}}  {'default':>{widths[2]}}  rule"
        self.stdout.write(header)
        self.stdout.write("-" * (len(header) + 20))
        for key, value, default, label in rows:
            marker = "" if value == default else "  *"
            self.stdout.write(f"{key:<{widths[0]}}  {value:>{widths[1]}}  {default:>{widths[2]}}  {label}{marker}")
        self.stdout.write(f"(* differs from the default; last changed {rules.updated_at:%Y-%m-%d %H:%M})")
