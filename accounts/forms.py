from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.password_validation import password_validators_help_texts, validate_password
from django.utils.functional import lazy

from . import services
from .models import User, normalize_email


class LoginForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email",
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )

    def clean(self):
        # The page shares the API's failed-login limits, or it would be a way around them.
        email = self.cleaned_data.get("username") or ""
        retry_after = services.login_retry_after(request=self.request, email=email)
        if retry_after is not None:
            minutes = max(1, round(retry_after / 60))
            raise forms.ValidationError(
                f"Too many failed logins; try again in {minutes} minute{'s' if minutes != 1 else ''}.",
                code="rate_limited",
            )
        try:
            return super().clean()
        except forms.ValidationError:
            services.login_failure_record(request=self.request, email=email)
            raise


class SignupForm(forms.Form):
    name = forms.CharField(max_length=150, widget=forms.TextInput(attrs={"autocomplete": "name"}))
    email = forms.EmailField(max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password = forms.CharField(
        max_length=128,
        strip=False,
        help_text=lazy(lambda: " ".join(password_validators_help_texts()), str)(),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_email(self) -> str:
        email = normalize_email(self.cleaned_data["email"])
        if User.objects.filter(email=email).exists():
            raise forms.ValidationError("An account with this email already exists.")
        return email

    def clean(self):
        cleaned = super().clean()
        # Checked even when the email was refused, so that every error shows at once.
        if cleaned.get("password"):
            email = cleaned.get("email") or str(self.data.get("email", ""))[:254]
            candidate = User(email=email, name=cleaned.get("name", ""))
            try:
                validate_password(cleaned["password"], user=candidate)
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return cleaned
