"""Message templates filled in for one member (话术模板, issue 9): the variables, their values, and
the rendering.

A template's body is plain text with variables in braces, `{称呼}` or its English alias
`{salutation}`. Rendering is `str.format_map` over a dict of strings, and only after the body
passed `template_errors`: a field that is not a plain name from VARIABLES (an attribute `{x.y}`,
an index `{x[0]}`, a format spec or conversion `{x:>9}`, `{x!r}`, a positional `{}`) is refused,
so a template can never reach anything but these strings. Nothing is evaluated, and the result
goes into the page through Django's autoescaping like any other text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from string import Formatter

from django.utils.dateformat import format as date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from members.dates import next_occurrence
from members.models import Gender
from members.templatetags.money import format_money


@dataclass(frozen=True)
class Variable:
    name: str  # as staff write it
    alias: str  # the same in English
    help: str


VARIABLES = (
    Variable("称呼", "salutation", gettext_lazy("姓 + 先生/女士（性别未填时为全名），如 张女士")),
    Variable("顾问", "consultant", gettext_lazy("会员的专属顾问（没有时为发送人）")),
    Variable("门店", "store", gettext_lazy("门店名称")),
    Variable("礼品", "gift", gettext_lazy("会员即将领取的礼品（没有计划时为“一份小礼物”）")),
    Variable("升级差额", "to_next_tier", gettext_lazy("距下一等级还差的12个月消费金额，如 ¥3,200")),
    Variable("生日", "birthday", gettext_lazy("会员下一个生日的日期（农历生日按农历），如 3月12日")),
)
NAMES = {v.name: v.name for v in VARIABLES} | {v.alias: v.name for v in VARIABLES}

# 复姓: the common two-character surnames. Any other name's surname is its first character.
# Two characters each, written together to keep the list short.
COMPOUND_SURNAMES = frozenset(
    _pair
    for _text in (
        "欧阳司马诸葛上官东方皇甫尉迟公孙慕容长孙宇文司徒夏侯令狐端木西门南宫独孤轩辕",
        "百里呼延万俟闻人赫连澹台濮阳淳于单于太史申屠公羊钟离宗政仲孙拓跋东郭第五",
    )
    for _pair in (_text[i : i + 2] for i in range(0, len(_text), 2))
)


def _is_han(text: str) -> bool:
    return bool(text) and all("\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" for ch in text)


def salutation(name: str, gender: str) -> str:
    """张女士 / 欧阳先生 from a Chinese name and a known gender; otherwise the name as written (a
    wrong 先生 is worse than none, and a Latin name has no surname-first rule to rely on)."""
    name = name.strip()
    if gender not in (Gender.FEMALE, Gender.MALE) or not _is_han(name) or len(name) < 2:
        return name
    surname = name[:2] if name[:2] in COMPOUND_SURNAMES and len(name) > 2 else name[0]
    # Part of the message to the member, in the member's language whatever the page's: not gettext.
    return surname + ("女士" if gender == Gender.FEMALE else "先生")


def template_errors(body: str) -> list[str]:
    """What is wrong with a template body, in words for the person typing it (empty: fine)."""
    try:
        parsed = list(Formatter().parse(body))
    except ValueError:
        return [_("花括号不成对：变量写成 {称呼} 这样；要显示花括号本身，请写两次：{{ 或 }}。")]
    unknown = []
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in NAMES or spec or conversion:
            shown = "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            if shown not in unknown:
                unknown.append(shown)
    if unknown:
        known = "、".join("{" + v.name + "}" for v in VARIABLES)
        return [
            _("不认识的变量：%(unknown)s。可用的变量：%(known)s。") % {"unknown": "、".join(unknown), "known": known}
        ]
    return []


@dataclass(frozen=True)
class MessageContext:
    """What the variables stand for, for one member."""

    name: str
    gender: str
    consultant: str
    store: str
    gift: str = ""
    to_next_tier: Decimal | None = None
    birthday: date | None = None
    birthday_lunar: bool = False

    def values(self, today: date) -> dict[str, str]:
        birthday = ""
        if self.birthday:
            next_on = next_occurrence(self.birthday, lunar=self.birthday_lunar, on_or_after=today)
            birthday = date_format(next_on, "n月j日")
        by_name = {
            "称呼": salutation(self.name, self.gender),
            "顾问": self.consultant,
            "门店": self.store,
            "礼品": self.gift or "一份小礼物",
            "升级差额": format_money(self.to_next_tier or Decimal(0), 0),
            "生日": birthday,
        }
        return {key: by_name[name] for key, name in NAMES.items()}


def render(body: str, context: MessageContext, *, today: date) -> str:
    """The body with the member's values filled in. A body that would not pass `template_errors`
    (saved before a variable was renamed, say) comes back as written rather than failing the page."""
    if template_errors(body):
        return body
    return body.format_map(context.values(today))
