from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = pgettext_lazy("plural", "活动")
