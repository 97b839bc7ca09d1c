# Issue 12 item 5: reports sent up with commentary. Written by hand (only these two models: another
# reports migration of the same number moves other parts; the lead merges them).

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0003_targets_daily_sales"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ReportCommentary",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("problems", models.TextField(blank=True, verbose_name="存在问题")),
                ("improvements", models.TextField(blank=True, verbose_name="改进措施")),
                ("next_actions", models.TextField(blank=True, verbose_name="下一步行动")),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="更新时间")),
                ("submitted_at", models.DateTimeField(blank=True, null=True, verbose_name="提交时间")),
                ("acknowledged_at", models.DateTimeField(blank=True, null=True, verbose_name="确认时间")),
                (
                    "snapshot",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="commentary",
                        to="reports.reportsnapshot",
                        verbose_name="报表",
                    ),
                ),
                (
                    "written_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="填写人",
                    ),
                ),
                (
                    "submitted_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="提交人",
                    ),
                ),
                (
                    "acknowledged_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="确认人",
                    ),
                ),
            ],
            options={
                "verbose_name": "报表点评",
                "verbose_name_plural": "报表点评",
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            ("acknowledged_at__isnull", True), ("submitted_at__isnull", False), _connector="OR"
                        ),
                        name="commentary_acknowledged_after_submitted",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="ReportComment",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("author_name", models.CharField(blank=True, max_length=150, verbose_name="作者姓名")),
                ("text", models.TextField(verbose_name="内容")),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="时间")),
                (
                    "author",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="作者",
                    ),
                ),
                (
                    "snapshot",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="comments",
                        to="reports.reportsnapshot",
                        verbose_name="报表",
                    ),
                ),
            ],
            options={
                "verbose_name": "报表留言",
                "verbose_name_plural": "报表留言",
                "ordering": ["snapshot_id", "created_at", "pk"],
                "indexes": [models.Index(fields=["snapshot", "created_at"], name="report_comment_snapshot_idx")],
            },
        ),
    ]
