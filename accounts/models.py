from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone
from django.utils.crypto import salted_hmac

from messaging_platform.ids import PrefixedIdField


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, email: str):
        return self.get(email=normalize_email(email))


def normalize_email(email: str) -> str:
    # Emails are compared case-insensitively: one account per address whatever its spelling.
    return email.strip().lower()


class User(AbstractBaseUser, PermissionsMixin):
    id = PrefixedIdField(prefix="usr")
    email = models.EmailField(unique=True, max_length=254)
    name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    # Raised by "log out everywhere": part of the cookie sessions' auth hash, so they all end.
    session_generation = models.PositiveIntegerField(default=0, editable=False)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    def _get_session_auth_hash(self, secret=None):
        # Django's hash of the password, with the generation: a cookie session ends when either changes.
        return salted_hmac(
            "accounts.User.session_auth_hash",
            f"{self.password}:{self.session_generation}",
            secret=secret,
            algorithm="sha256",
        ).hexdigest()

    def save(self, *args, **kwargs):
        password_changed = self._password is not None  # set_password() was called
        super().save(*args, **kwargs)
        if password_changed:
            # A new password (changed, reset, or set by an operator) ends every API session token:
            # a reset after a compromise must evict whoever held one.
            SessionToken.objects.filter(user=self).delete()


class SessionToken(models.Model):
    """A Bearer token for the UI API; only its hash is stored."""

    id = PrefixedIdField(prefix="tok")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="session_tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True)

    def __str__(self) -> str:
        return f"{self.id} ({self.user})"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()
