"""gunicorn's own refusals (before Django runs) answer in the JSON error format, under the
settings the web tier runs with (gunicorn.conf.py, read from the repository root)."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def gunicorn_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "messaging_platform.settings",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "messaging_platform.wsgi",
            "--workers",
            "1",
            "--bind",
            f"127.0.0.1:{port}",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                assert process.poll() is None, process.stderr.read().decode()[-2000:]
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(10)


def raw_request(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), 10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def assert_json_error(answer, status: int, code: str) -> None:
    got_status, headers, body = answer
    assert got_status == status, (got_status, body[:300])
    assert headers["Content-Type"] == "application/json"
    parsed = json.loads(body)
    assert parsed["error"] == code and parsed["detail"]


def test_a_request_line_over_the_limit_is_a_json_400(gunicorn_port):
    line = b"GET /api/messages?search=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    assert_json_error(raw_request(gunicorn_port, line), 400, "invalid_params")


def test_a_request_line_within_the_raised_limit_reaches_the_api(gunicorn_port):
    line = b"GET /api/messages?search=" + b"a" * 6000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    assert_json_error(raw_request(gunicorn_port, line), 401, "unauthorized")


def test_a_header_over_the_limit_is_a_json_431(gunicorn_port):
    request = b"GET /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"b" * 20000 + b"\r\n\r\n"
    assert_json_error(raw_request(gunicorn_port, request), 431, "headers_too_large")


def test_a_malformed_request_line_is_a_json_400(gunicorn_port):
    assert_json_error(raw_request(gunicorn_port, b"NOT A REQUEST\r\n\r\n"), 400, "invalid_params")
