from pathlib import Path

import numbers as _stdlib_numbers

# The telephony app lives in numbers/, a name the standard library already uses. numbers/ has no
# __init__.py, so `import numbers` always finds the stdlib module (which decimal, fractions and pytest
# rely on); giving that module a __path__ makes `numbers.models`, `numbers.providers`… load from
# the app's folder. This runs before Django loads any app, because every entry point (manage.py,
# wsgi, asgi, celery, pytest-django) imports this package first.
_stdlib_numbers.__path__ = [str(Path(__file__).resolve().parent.parent / "numbers")]

from .celery import app as celery_app  # noqa: E402

__all__ = ("celery_app",)
