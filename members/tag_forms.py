"""Forms of the tag pages (members.tag_views): the names are checked by members.tags."""

from django import forms
from django.utils.translation import gettext_lazy as _

from .forms import ServiceErrorsMixin
from .models import MemberTag
from .tags import TAG_NAME_MAX


class TagNameForm(ServiceErrorsMixin, forms.Form):
    # Blank and over-long names are refused by members.tags.tag_name_clean, with its own words;
    # the bound here only stops a pasted essay.
    name = forms.CharField(label=_("标签名"), max_length=200, required=False, strip=True)
    name.widget.attrs["maxlength"] = TAG_NAME_MAX


class TagMergeForm(ServiceErrorsMixin, forms.Form):
    target = forms.ModelChoiceField(label=_("合并到"), queryset=MemberTag.objects.none())

    def __init__(self, *args, tag: MemberTag, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].queryset = MemberTag.objects.exclude(pk=tag.pk).order_by("name")
