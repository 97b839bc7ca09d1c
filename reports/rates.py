"""The one rate type (DOMAIN §6): a rate is reported with its numerator and denominator, and a zero
denominator gives no rate (None), never a division error.

Rates add up as weighted rates: Rate(1, 4) + Rate(3, 4) = Rate(4, 8) = 50%, never 25% + 75% = 100%.
`sum(rates, Rate.zero())` totals a table's rows (stores, people, months) the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

PLACES = 4  # the JSON's rate: a fraction with 4 decimals (0.3333)


@dataclass(frozen=True)
class Rate:
    numerator: int | Decimal = 0
    denominator: int | Decimal = 0

    @classmethod
    def zero(cls) -> Rate:
        return cls(0, 0)

    @classmethod
    def of(cls, obj: dict | Rate | None) -> Rate | None:
        """A rate back from its JSON ({numerator, denominator, rate}); None stays None."""
        if obj is None or isinstance(obj, Rate):
            return obj
        return cls(obj.get("numerator") or 0, obj.get("denominator") or 0)

    @property
    def value(self) -> float | None:
        """numerator / denominator as a float, None when the denominator is zero."""
        if not self.denominator:
            return None
        return float(self.numerator) / float(self.denominator)

    @property
    def decimal(self) -> Decimal | None:
        """The rate as a Decimal with 4 places (for comparing with a target), None on zero."""
        if not self.denominator:
            return None
        return (Decimal(self.numerator) / Decimal(self.denominator)).quantize(Decimal(1).scaleb(-PLACES))

    @property
    def rounded(self) -> float | None:
        value = self.value
        return None if value is None else round(value, PLACES)

    @property
    def percent(self) -> float | None:
        value = self.value
        return None if value is None else round(value * 100, 1)

    def as_json(self) -> dict:
        """{numerator, denominator, rate}: the shape reports, snapshots and the API use."""
        return {"numerator": self.numerator, "denominator": self.denominator, "rate": self.rounded}

    def __add__(self, other: Rate) -> Rate:
        if other is None:
            return self
        if not isinstance(other, Rate):
            return NotImplemented
        return Rate(self.numerator + other.numerator, self.denominator + other.denominator)

    def __radd__(self, other) -> Rate:
        if other is None or other == 0:  # sum() starts with 0
            return self
        return self.__add__(other)

    def __str__(self) -> str:
        percent = self.percent
        shown = "—" if percent is None else f"{percent:.1f}%"
        return f"{shown} ({self.numerator}/{self.denominator})"


def ratio(numerator, denominator) -> dict:
    """The JSON of a rate: {numerator, denominator, rate}."""
    return Rate(numerator, denominator).as_json()
