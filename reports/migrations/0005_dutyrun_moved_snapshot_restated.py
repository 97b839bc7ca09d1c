# Issue 12 items 1 and 7. Written by hand:
# - DutyRun moved to the duties app (duties 0002 takes it into its state): removed from reports'
#   state only; the table reports_dutyrun stays, now the duties model's.
# - A frozen snapshot whose period's ledger changed later is marked restated, with the figures
#   recomputed then beside the frozen ones.
# After 0004_report_commentary (another engineer's, same issue) so the graph stays one line.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("duties", "0002_dutyrun_moved_from_reports"),
        ("reports", "0004_report_commentary"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="DutyRun")],
            database_operations=[],
        ),
        migrations.AddField(
            model_name="reportsnapshot",
            name="restated_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="重述时间"),
        ),
        migrations.AddField(
            model_name="reportsnapshot",
            name="restated_figures",
            field=models.JSONField(blank=True, default=dict, verbose_name="重述数据"),
        ),
        migrations.AddField(
            model_name="reportsnapshot",
            name="ledger_checked_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="核对时间"),
        ),
    ]
