"""May the platform call this URL? Outbound webhooks and status callbacks are URLs chosen by a
tenant; without this check they could make our servers reach loopback, the private network or a
cloud metadata service (server-side request forgery).

The check runs when a URL is registered and again before each request, because a host name can
resolve to a public address today and a private one tomorrow (DNS rebinding).
"""

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings

# Cloud metadata endpoints that are not already outside the global address space.
METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),
        ipaddress.ip_address("fd00:ec2::254"),
        ipaddress.ip_address("100.100.100.200"),
    }
)


class UnsafeUrl(ValueError):
    """The URL may not be called; str(exc) says why, in words a user can act on."""


def system_resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


# Tests replace this (monkeypatch) to answer without DNS.
resolve_host: Callable[[str, int], list[str]] = system_resolve


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    # is_global is False for loopback, private, link-local, shared (CGNAT), reserved, unspecified.
    return ip.is_global and not ip.is_multicast and ip not in METADATA_ADDRESSES


def check_public_url(url: str, *, allow_http: bool | None = None, allow_private: bool | None = None) -> None:
    """Raise UnsafeUrl unless `url` is https (or http where allowed) on a public address.

    The defaults come from the WEBHOOK_ALLOW_HTTP and WEBHOOK_ALLOW_PRIVATE_URLS settings.
    """
    allow_http = settings.WEBHOOK_ALLOW_HTTP if allow_http is None else allow_http
    allow_private = settings.WEBHOOK_ALLOW_PRIVATE_URLS if allow_private is None else allow_private
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl("Not a valid URL.") from exc
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme.lower() not in schemes:
        raise UnsafeUrl("Must be an https URL." if not allow_http else "Must be an http(s) URL.")
    host = parts.hostname
    if not host:
        raise UnsafeUrl("The URL has no host.")
    if allow_private:
        return
    port = port or (443 if parts.scheme.lower() == "https" else 80)
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            addresses = resolve_host(host, port)
        except (OSError, UnicodeError) as exc:
            raise UnsafeUrl(f"The host {host} does not resolve.") from exc
    if not addresses:
        raise UnsafeUrl(f"The host {host} does not resolve.")
    for address in addresses:
        try:
            public = is_public_address(address)
        except ValueError:
            public = False
        if not public:
            raise UnsafeUrl(
                f"The host {host} resolves to a private, loopback, link-local or "
                "reserved address; only public addresses are allowed."
            )
