"""manage.py import_purchases FILE [--store CODE] [--dry-run] [--user USERNAME]"""
from members.imports import PURCHASES

from .import_members import ImportCommand


class Command(ImportCommand):
    help = (
        "Import purchases (receipts) from a CSV (UTF-8, UTF-8 with BOM or GBK) or XLSX file, all or nothing. "
        "Columns (English or Chinese headers): receipt_no/小票号, card_no/卡号, date/日期, amount/金额 (required; "
        "negative for a return); store/门店 (required unless --store); consultant/导购 (username), items/商品. "
        "Members must already exist. A receipt already on file for that store with the same card, date and "
        "amount is skipped; with different content it is an error row. Every bad row is listed; nothing is "
        "written if any is bad. Tiers of the members touched are replayed afterwards."
    )
    kind = PURCHASES
