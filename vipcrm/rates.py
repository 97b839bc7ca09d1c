"""The one rate type (DOMAIN §6), for every app: a rate is reported with its numerator and
denominator, and a zero denominator gives no rate (None), never a division error.

Rates add up as weighted rates: Rate(1, 4) + Rate(3, 4) = Rate(4, 8) = 50%, never 25% + 75% = 100%.
`sum(rates, Rate.zero())` totals a table's rows (stores, people, months) the same way.

A rate may carry its `key` (churn_rate, follow_up_on_time, …): then it knows its label and the
formula shown on hover (`title`). The key takes no part in equality or addition.

This module imports no app: visits, campaigns, complaints and reports all use it (the app
layering of tests/test_app_boundaries.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

PLACES = 4  # the JSON's rate: a fraction with 4 decimals (0.3333)

# The formula behind each rate (DOMAIN §6), shown on hover with its numerator and denominator.
FORMULAS = {
    "churn_rate": gettext_lazy("流失率 = 期初活跃会员中期末不再活跃的人数 / 期初活跃会员数"),
    "repurchase_rate": gettext_lazy("返单率 = 期初活跃会员中期内有消费的人数 / 期初活跃会员数"),
    "upgrade_rate": gettext_lazy("升级率 = 期初 B/C 级会员中期内升级的人数 / 期初 B/C 级会员数"),
    "follow_up_completion": gettext_lazy("回访完成率 = 期内到期且期末前完成的任务 / 期内到期的任务（不含已取消）"),
    "follow_up_on_time": gettext_lazy("按时率 = 在到期日当天或之前完成的任务 / 期内到期的任务"),
    "satisfied": gettext_lazy("满意占比 = 评分 4 分及以上的回访 / 有评分的回访"),
    "response_within_sla": gettext_lazy("响应及时率 = 时限内首次响应的投诉 / 接收的投诉"),
    "solution_within_sla": gettext_lazy("解决及时率 = 时限内执行方案的投诉 / 接收的投诉（驳回的不计）"),
    "vip_sales_share": gettext_lazy("VIP销售占比 = VIP销售额 / 门店销售总额"),
    "tier_share": gettext_lazy("等级占比 = 该等级会员数 / 期末会员总数"),
}
LABELS = {
    "churn_rate": gettext_lazy("流失率"),
    "repurchase_rate": gettext_lazy("返单率"),
    "upgrade_rate": gettext_lazy("升级率"),
    "follow_up_completion": gettext_lazy("回访完成率"),
    "follow_up_on_time": gettext_lazy("按时率"),
    "satisfied": gettext_lazy("满意占比"),
}


@dataclass(frozen=True)
class Rate:
    """numerator / denominator. A denominator of None means the figure is unknown (an old
    snapshot without it): no rate, and the hover shows the formula alone."""

    numerator: int | Decimal | None = 0
    denominator: int | Decimal | None = 0
    key: str = field(default="", compare=False)

    @classmethod
    def zero(cls) -> Rate:
        return cls(0, 0)

    @classmethod
    def of(cls, obj: dict | Rate | None, key: str = "") -> Rate | None:
        """A rate back from its JSON ({numerator, denominator, rate}); None stays None."""
        if obj is None or isinstance(obj, Rate):
            return obj
        return cls(obj.get("numerator") or 0, obj.get("denominator") or 0, key)

    @classmethod
    def figure(cls, key: str, obj: dict | None) -> Rate:
        """A report's figure by its key: the rate from the JSON, or an unknown one when missing."""
        return cls.of(obj, key) if obj else cls(None, None, key)

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
    def rate(self) -> float | None:
        """The JSON's `rate` (4 decimals): what templates test for "is there a rate"."""
        return self.rounded

    @property
    def percent(self) -> float | None:
        value = self.value
        return None if value is None else round(value * 100, 1)

    @property
    def label(self) -> str:
        return str(LABELS.get(self.key, ""))

    @property
    def title(self) -> str:
        """流失率 = … / … = 12 / 240 (or why there is no rate)."""
        formula = str(FORMULAS.get(self.key, ""))
        if self.denominator is None:
            return formula
        if not self.denominator:
            return _("%(formula)s：分母为 0，无比率") % {"formula": formula}
        return f"{formula} = {self.numerator} / {self.denominator}"

    def as_json(self, *, decimals_as_strings: bool = False) -> dict:
        """{numerator, denominator, rate}: the shape reports, snapshots and the API use. With
        `decimals_as_strings`, a numerator or denominator that is not a whole count (money) is a
        string, as the API shows money."""

        def shown(number):
            return number if not decimals_as_strings or isinstance(number, int) else str(number)

        return {"numerator": shown(self.numerator), "denominator": shown(self.denominator), "rate": self.rounded}

    def __add__(self, other: Rate) -> Rate:
        if other is None:
            return self
        if not isinstance(other, Rate):
            return NotImplemented
        return Rate(self.numerator + other.numerator, self.denominator + other.denominator, self.key or other.key)

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
