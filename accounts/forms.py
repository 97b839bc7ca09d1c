import re

from django import forms
from django.contrib.auth.password_validation import password_validators_help_text_html, validate_password
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .models import Role, Staff, Store
from .services import roles_assignable, scan_error


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


class ServiceErrorsMixin:
    """Put a service's ValidationError (a dict of field → messages, or plain messages) on the form."""

    def add_service_errors(self, error: ValidationError) -> None:
        if not hasattr(error, "error_dict"):
            self.add_error(None, error.messages)
            return
        for field, messages in error.message_dict.items():
            self.add_error(field if field in self.fields else None, messages)


# Login names are typed on a shop's phone: lower-case Latin letters, digits and . _ -, starting
# with a letter (pinyin like "li.na" or "sh01_c5").
USERNAME = re.compile(r"[a-z][a-z0-9._-]{2,29}")


class StaffForm(ServiceErrorsMixin, forms.Form):
    """A colleague's account as the manager (their store; consultant or VIP specialist) or HQ (any
    store, any role) sets it. Creating also asks for the login name; the role and store of an
    existing person are edited here too, never their own (the view refuses)."""

    username = forms.CharField(
        label=_("用户名"),
        max_length=30,
        help_text=_("登录用：3–30 位小写字母、数字或 . _ -，以字母开头，例如 li.na。创建后不能修改。"),
    )
    display_name = forms.CharField(label=_("显示名"), max_length=50, required=False)
    email = forms.EmailField(label=_("邮箱"), required=False)
    role = forms.ChoiceField(label=_("角色"))
    store = forms.ModelChoiceField(label=_("门店"), queryset=Store.objects.none(), required=False)

    def __init__(self, *args, viewer: Staff, staff: Staff | None = None, **kwargs):
        if staff is not None:
            kwargs.setdefault(
                "initial",
                {"display_name": staff.display_name, "email": staff.email, "role": staff.role, "store": staff.store},
            )
        super().__init__(*args, **kwargs)
        self.viewer, self.staff = viewer, staff
        self.fields["role"].choices = [(r, label) for r, label in Role.choices if r in roles_assignable(viewer)]
        if staff is not None:
            del self.fields["username"]
        if viewer.is_hq:
            self.fields["store"].queryset = Store.objects.order_by("code")
            self.fields["store"].help_text = _("总部员工不属于任何门店，留空。")
        else:
            del self.fields["store"]

    def clean_username(self) -> str:
        username = self.cleaned_data["username"].strip()
        if not USERNAME.fullmatch(username):
            raise ValidationError(_("用户名须为 3–30 位小写字母、数字或 . _ -，并以字母开头。"))
        return username

    def clean(self):
        data = super().clean()
        if self.viewer.is_hq and data.get("role") and data["role"] != Role.HQ and not data.get("store"):
            self.add_error("store", _("除总部外，员工必须属于一家门店。"))
        return data

    @property
    def chosen_store(self) -> Store | None:
        if self.viewer.is_hq:
            return None if self.cleaned_data["role"] == Role.HQ else self.cleaned_data["store"]
        return self.viewer.store


class StaffDeactivateForm(forms.Form):
    note = forms.CharField(
        label=_("说明"), max_length=200, required=False, help_text=_("例如：离职、调往其他门店。写入审计日志。")
    )


class AgreementForm(ServiceErrorsMixin, forms.Form):
    """A signed confidentiality agreement: its version, the date it was signed and the scan of the
    paper (PDF, JPEG or PNG, at most 5 MB, checked by content, not by the file name)."""

    version = forms.CharField(label=_("版本"), max_length=20, help_text=_("与纸质协议上的版本号一致，例如 1.0。"))
    signed_on = forms.DateField(label=_("签署日期"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    scan = forms.FileField(
        label=_("扫描件"),
        help_text=_("签署后的协议扫描件或照片：PDF、JPEG 或 PNG，不超过 5 MB。"),
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,image/jpeg,image/png"}),
    )

    def clean_version(self) -> str:
        version = self.cleaned_data["version"].strip()
        if not version:
            raise ValidationError(_("请填写版本。"))
        return version

    def clean_scan(self):
        scan = self.cleaned_data["scan"]
        if error := scan_error(scan):
            raise ValidationError(error)
        return scan
