from django import forms
from django.contrib.auth.password_validation import password_validators_help_text_html, validate_password
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .models import Staff


class StaffPasswordResetForm(forms.Form):
    """A manager's reset of someone's password: a generated temporary one (the default) or one the
    manager chooses, typed twice. Either way the person changes it at their next login."""

    GENERATE, CHOOSE = "generate", "choose"

    mode = forms.ChoiceField(
        label=_("新密码"),
        choices=[(GENERATE, _("生成临时密码（只显示一次）")), (CHOOSE, _("由我设定"))],
        initial=GENERATE,
        widget=forms.RadioSelect,
    )
    password1 = forms.CharField(
        label=_("设定的密码"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label=_("再次输入"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, staff: Staff, **kwargs):
        super().__init__(*args, **kwargs)
        self.staff = staff

    def clean(self):
        data = super().clean()
        if data.get("mode") != self.CHOOSE:
            return data
        password1, password2 = data.get("password1"), data.get("password2")
        if not password1:
            self.add_error("password1", _("请输入要设定的密码。"))
        elif password1 != password2:
            self.add_error("password2", _("两次输入的密码不一致。"))
        else:
            try:
                validate_password(password1, user=self.staff)
            except ValidationError as e:
                self.add_error("password1", e)
        return data

    @property
    def chosen_password(self) -> str | None:
        return self.cleaned_data["password1"] if self.cleaned_data.get("mode") == self.CHOOSE else None
