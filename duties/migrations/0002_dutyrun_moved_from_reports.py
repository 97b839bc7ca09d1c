# Issue 12 item 7: DutyRun moves from reports to duties. Written by hand: the table stays
# (reports_dutyrun, created by reports 0001), only Django's state moves, so the runs recorded
# before the move stay; reports 0005 removes the model from reports' state after this one. The
# content type follows the model, so permissions granted on it stay granted.

import django.db.models.deletion
from django.db import migrations, models


def content_type_to(app_label: str):
    def move(apps, schema_editor):
        ContentType = apps.get_model("contenttypes", "ContentType")
        other = "reports" if app_label == "duties" else "duties"
        if not ContentType.objects.filter(app_label=app_label, model="dutyrun").exists():
            ContentType.objects.filter(app_label=other, model="dutyrun").update(app_label=app_label)

    return move


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("duties", "0001_outbox_email"),
        ("reports", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="DutyRun",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("duty", models.CharField(max_length=30, verbose_name="任务")),
                        ("date", models.DateField(verbose_name="业务日期")),
                        ("slot", models.CharField(blank=True, default="", max_length=5, verbose_name="时段")),
                        (
                            "status",
                            models.CharField(
                                choices=[("running", "运行中"), ("done", "完成"), ("failed", "失败")],
                                default="running",
                                max_length=10,
                                verbose_name="状态",
                            ),
                        ),
                        ("started_at", models.DateTimeField(verbose_name="开始")),
                        ("finished_at", models.DateTimeField(blank=True, null=True, verbose_name="结束")),
                        ("counts", models.JSONField(blank=True, default=dict, verbose_name="数量")),
                        ("error", models.TextField(blank=True, verbose_name="错误")),
                        ("attempts", models.PositiveSmallIntegerField(default=0, verbose_name="尝试次数")),
                        (
                            "store",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="duty_runs",
                                to="accounts.store",
                                verbose_name="门店",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "定时任务记录",
                        "verbose_name_plural": "定时任务记录",
                        "db_table": "reports_dutyrun",
                        "ordering": ["-date", "duty", "store_id"],
                        "indexes": [
                            models.Index(fields=["store", "duty", "-date"], name="dutyrun_store_duty_date_idx")
                        ],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("duty", "store", "date", "slot"), name="duty_run_once_per_store_date"
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_type_to("duties"), content_type_to("reports"), elidable=True),
    ]
