"""The one rate type lives in vipcrm/rates.py (every app uses it; reports imports it from there).
Kept here under its reports name for the KPIs and their tests."""

from vipcrm.rates import PLACES, Rate, ratio

__all__ = ["PLACES", "Rate", "ratio"]
