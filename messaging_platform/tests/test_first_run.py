"""The README's first run: `make run` installs only what running needs, sets the public address
from PORT, and says which URL to open once the server answers."""

import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

from messaging_platform.testing.processes import BASE_DIR


def make_dry_run(*args: str) -> str:
    # -n prints the commands; a venv that does not exist makes every install step due.
    result = subprocess.run(
        ["make", "-n", "VENV=/nonexistent-venv", *args],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def test_make_run_installs_only_the_runtime_requirements():
    commands = make_dry_run("run", "PORT=8123")
    assert "pip install --quiet -r requirements.txt" in commands
    assert "requirements-dev.txt" not in commands
    assert "messaging_platform.announce http://127.0.0.1:8123" in commands
    assert "daphne -b 127.0.0.1 -p 8123" in commands
    assert "requirements-dev.txt" in make_dry_run("test")


def test_the_announcement_names_the_url_once_the_server_answers():
    class Health(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(503)  # degraded is still up
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        out = subprocess.run(
            [sys.executable, "-m", "messaging_platform.announce", url],
            cwd=BASE_DIR,
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert out.returncode == 0
    assert f"open {url}/ in your browser" in out.stdout


def test_the_readmes_createsuperuser_line_works(tmp_path):
    readme = (BASE_DIR / "README.md").read_text()
    assert (
        'DEBUG=true .venv/bin/python manage.py createsuperuser --email you@example.com --name "Your Name"'
    ) in readme
    env = {
        "PATH": "/usr/bin:/bin",
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        "DJANGO_SUPERUSER_PASSWORD": "a-long-passphrase-1",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=BASE_DIR, env=env, check=True
    )
    # As written, with --noinput (the password from DJANGO_SUPERUSER_PASSWORD) instead of the prompt.
    made = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "createsuperuser",
            "--email",
            "you@example.com",
            "--name",
            "Your Name",
            "--noinput",
        ],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    assert "Superuser created successfully" in made.stdout
