from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import models, transaction

from accounts.services import audit_log
from members.models import ProgramRules

# The rules this command may change, in the order they are printed (DOMAIN §4).
KEYS = (
    "tier_a_min",
    "tier_b_min",
    "spend_window_days",
    "churn_days",
    "care_days_a",
    "care_days_b",
    "care_days_c",
    "post_purchase_days",
    "lead_days",
    "win_back_days",
    "upgrade_candidate_ratio",
    "complaint_response_hours",
    "complaint_solution_hours",
    "daily_care_capacity",
    "attempts_before_escalation",
)
# Changing these changes members' tiers, which only a replay of the ledger brings up to date.
TIER_KEYS = {"tier_a_min", "tier_b_min", "spend_window_days"}
# A window, a cadence or a deadline of zero would make every member churned, due or late at once.
AT_LEAST_ONE = {
    "spend_window_days", "churn_days", "care_days_a", "care_days_b", "care_days_c",
    "complaint_response_hours", "complaint_solution_hours", "daily_care_capacity", "attempts_before_escalation",
}


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
    if field.name in AT_LEAST_ONE and value < 1:
        raise CommandError(f"{field.name}: must be at least 1, not {value}.")
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

        with transaction.atomic():
            rules = ProgramRules.objects.select_for_update().filter(pk=1).first() or ProgramRules.load()
            before = {key: getattr(rules, key) for key in parsed}
            for key, value in parsed.items():
                setattr(rules, key, value)
            if rules.tier_a_min <= rules.tier_b_min:
                raise CommandError(
                    f"tier_a_min ({rules.tier_a_min}) must be greater than tier_b_min ({rules.tier_b_min}). "
                    "Nothing was saved."
                )
            try:
                rules.full_clean()
            except ValidationError as e:
                messages = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in e.message_dict.items())
                raise CommandError(f"{messages} Nothing was saved.") from e
            changed = [key for key in parsed if getattr(rules, key) != before[key]]
            if not changed:
                self.stdout.write("Nothing changed: the rules already have these values.")
                return
            rules.save(update_fields=[*changed, "updated_at"])
            audit_log(
                actor=None, action="program_rules.changed", obj=rules,
                changes={key: [str(before[key]), str(getattr(rules, key))] for key in changed},
            )
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
