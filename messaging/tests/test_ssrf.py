"""SSRF: tenant-chosen URLs (status_callback, webhook endpoints) that resolve to loopback, private,
link-local or metadata addresses are refused under production settings, with a stub resolver.

messaging/urlsafety.py comes with the `events` branch; until it is merged these tests skip.
"""

import pytest

from messaging.models import Message
from messaging.tests.conftest import CONTACT

urlsafety = pytest.importorskip("messaging.urlsafety")

pytestmark = pytest.mark.django_db

# What the stub DNS answers for each host name.
DNS = {
    "public.example.com": ["93.184.216.34"],
    "loopback.example.com": ["127.0.0.1"],
    "v6-loopback.example.com": ["::1"],
    "ten.example.com": ["10.1.2.3"],
    "oneseventwo.example.com": ["172.16.0.5"],
    "home.example.com": ["192.168.1.1"],
    "metadata.example.com": ["169.254.169.254"],
    "aws-v6-metadata.example.com": ["fd00:ec2::254"],
    "alibaba-metadata.example.com": ["100.100.100.200"],
    "cgnat.example.com": ["100.64.0.1"],
    "zero.example.com": ["0.0.0.0"],
    "mapped.example.com": ["::ffff:127.0.0.1"],
    "mixed.example.com": ["93.184.216.34", "10.0.0.1"],  # one bad answer is enough to refuse
    "2130706433": ["127.0.0.1"],  # a decimal IPv4 literal, as the system resolver reads it
}
REFUSED = [f"https://{host}/hook" for host in DNS if host != "public.example.com"] + [
    "https://127.0.0.1/hook",
    "https://[::1]/hook",
    "https://169.254.169.254/latest/meta-data",
    "https://[::ffff:169.254.169.254]/",
    "https://unknown.example.com/hook",
    "http://public.example.com/hook",  # plain http, outside development
    "file:///etc/passwd",
    "gopher://public.example.com/",
    "https:///nohost",
]


@pytest.fixture(autouse=True)
def production_rules(settings, monkeypatch):
    settings.WEBHOOK_ALLOW_HTTP = False
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False

    def resolve(host: str, port: int) -> list[str]:
        if host not in DNS:
            raise OSError("no such host")
        return DNS[host]

    monkeypatch.setattr(urlsafety, "resolve_host", resolve)


@pytest.mark.parametrize("url", REFUSED)
def test_a_url_reaching_a_private_address_is_refused(url):
    with pytest.raises(urlsafety.UnsafeUrl):
        urlsafety.check_public_url(url)


def test_a_public_https_url_is_allowed():
    urlsafety.check_public_url("https://public.example.com/hook")


@pytest.mark.parametrize("url", ["https://metadata.example.com/x", "https://10.0.0.1/x"])
def test_a_send_with_a_private_status_callback_is_refused_and_stores_nothing(send, url):
    response = send(status_callback=url)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_params"
    assert not Message.objects.filter(to_number=CONTACT).exists()


def test_a_webhook_endpoint_on_a_private_address_is_refused(owner_client, workspace):
    response = owner_client.post(
        f"/api/ui/workspaces/{workspace.id}/webhooks",
        {"url": "https://metadata.example.com/hook", "events": ["message.received"]},
        format="json",
    )
    assert response.status_code == 400, response.content
