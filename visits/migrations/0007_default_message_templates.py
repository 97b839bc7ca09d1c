"""HQ's default message templates (issue 9): one or two per task kind, in Chinese, with the
variables of visits.messages. Stores add their own or replace these in the app."""

from django.db import migrations

DEFAULTS = [
    (
        "post_purchase",
        "购后关怀",
        "{称呼}您好，我是{门店}的{顾问}。感谢您选购我们的衣服！穿着还合身、舒服吗？如需修改或想要搭配建议，随时找我。",
    ),
    (
        "post_purchase",
        "洗护提醒",
        "{称呼}您好，我是{顾问}。您新买的衣服第一次洗护前，记得看一下洗标哦；有任何疑问，欢迎随时问我或到{门店}来。",
    ),
    (
        "care",
        "近况问候",
        "{称呼}您好，我是{门店}的{顾问}，好久不见，最近一切都好吗？店里到了一批新款，很适合您的风格，有空欢迎来试穿。",
    ),
    (
        "care",
        "天气关怀",
        "{称呼}您好，最近天气变化大，注意添衣保暖。{门店}新到了几款应季外套，方便时过来看看，我给您留着合适的尺码。——{顾问}",
    ),
    (
        "birthday",
        "生日祝福",
        "{称呼}，今天是您的生日！{门店}全体同事祝您生日快乐、美丽常在！我们为您准备了{礼品}，方便时欢迎到店领取。——{顾问}",
    ),
    (
        "birthday_prep",
        "生日礼品预告",
        "{称呼}您好，您的生日（{生日}）快到了，我们为您准备了{礼品}，这几天方便来{门店}坐坐吗？我给您留着。——{顾问}",
    ),
    (
        "occasion",
        "节日祝福",
        "{称呼}，{门店}祝您和家人节日快乐、幸福美满！我们为您准备了{礼品}，方便时欢迎到店。——{顾问}",
    ),
    (
        "win_back",
        "想念您",
        "{称呼}您好，我是{门店}的{顾问}，好久没见到您了，很想念您！店里新到了不少适合您的款式，还为您准备了专属礼遇，期待您的光临。",
    ),
    (
        "win_back",
        "专属邀请",
        "{称呼}您好，{门店}这周有老顾客专属的新品品鉴，我特别为您留了位置，哪天方便我帮您安排？——{顾问}",
    ),
    (
        "complaint_revisit",
        "投诉回访",
        "{称呼}您好，我是{门店}的{顾问}。上次给您带来不便，非常抱歉。想回访一下问题是否已妥善解决，您还满意吗？",
    ),
    (
        "upgrade_push",
        "升级提醒",
        "{称呼}您好，您在{门店}的会员消费离升级只差{升级差额}，升级后可享受更多专属礼遇。新款到了，欢迎来看看。——{顾问}",
    ),
    (
        "keep_tier",
        "保级提醒",
        "{称呼}您好，感谢您一直以来的支持！温馨提醒：您的会员等级将在月底复核，期间在{门店}的消费都会计入。新款已到，欢迎来试穿。——{顾问}",
    ),
    (
        "invitation",
        "到店确认",
        "{称呼}您好，跟您确认一下到{门店}的时间，我会提前为您准备好，期待您的光临！如时间有变请随时告诉我。——{顾问}",
    ),
    ("manual", "回访问候", "{称呼}您好！我是{门店}的{顾问}，想跟您回访一下近况，有什么需要随时找我。"),
]


def forwards(apps, schema_editor):
    MessageTemplate = apps.get_model("visits", "MessageTemplate")
    for position, (kind, name, body) in enumerate(DEFAULTS):
        MessageTemplate.objects.get_or_create(
            store=None, kind=kind, name=name, defaults={"body": body, "position": position}
        )


class Migration(migrations.Migration):
    dependencies = [("visits", "0006_message_templates")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
