"""Where an HTTP source may go: `allow_hosts` by host AND port, origins (the secret stays in the
origin of `url`), and private, loopback and link-local addresses, refused unless the source
declares `allow_private: true`. Checked on the declaration and again on every request, redirects
and next-page links included."""

from __future__ import annotations

import ipaddress
import re
import socket

import httpx

DEFAULT_PORTS = {"http": 80, "https": 443}
# `host`, `host:port`, `[v6]` or `[v6]:port`
_HOST = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<name>[^:/@\[\]\s]+))(?::(?P<port>\d{1,5}))?$")

Origin = tuple[str, str, int]  # scheme, host, port


def origin(url: httpx.URL) -> Origin:
    return url.scheme, url.host.lower(), url.port or DEFAULT_PORTS.get(url.scheme, 0)


def show_origin(where: Origin) -> str:
    scheme, host, port = where
    return f"{scheme}://{show_host(host, port)}"


def show_host(host: str, port: int | None = None) -> str:
    """As written in allow_hosts: `host`, `host:port`, `[v6]` or `[v6]:port`."""
    shown = f"[{host}]" if ":" in host else host
    return shown if port is None else f"{shown}:{port}"


def parse_host(entry: str) -> tuple[str, int | None] | None:
    """An `allow_hosts` entry as (host, port or None for the scheme's default); None if malformed."""
    if entry.count(":") > 1 and not entry.startswith("["):  # a bare IPv6 address
        entry = f"[{entry}]"
    found = _HOST.match(entry.strip())
    if found is None:
        return None
    host = found["v6"] or found["name"]
    if found["v6"] is not None and not _is_ip(host):
        return None
    port = int(found["port"]) if found["port"] else None
    if port is not None and not 0 < port < 65536:
        return None
    return host.lower(), port


def allow_list(url: httpx.URL, hosts: list[str] | None) -> list[tuple[str, int | None]]:
    """The (host, port) pairs a source may contact: its `allow_hosts`, or else the host of `url`
    (with its port when it names one)."""
    if hosts is None:
        return [(url.host.lower(), url.port)]
    return [rule for rule in map(parse_host, hosts) if rule is not None]


def allowed(url: httpx.URL, rules: list[tuple[str, int | None]]) -> bool:
    """Host AND port must match an entry; an entry without a port means the scheme's default."""
    scheme, host, port = origin(url)
    return any(h == host and port == (p if p is not None else DEFAULT_PORTS.get(scheme)) for h, p in rules)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def private_literal(host: str) -> str | None:
    """The host itself when it is a private, loopback or link-local address (or `localhost`),
    decided without resolving anything."""
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return host
    if _is_ip(host) and not ipaddress.ip_address(host).is_global:
        return host
    return None


def private_address(host: str) -> str | None:
    """The first address host resolves to that is not globally routable (private, loopback,
    link-local, unique-local, unspecified; IPv4 and IPv6), or None. A name that does not resolve
    is a connection failure, retried like one."""
    if _is_ip(host) or private_literal(host):
        return private_literal(host)
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise httpx.ConnectError(f"cannot resolve {host}: {exc}") from exc
    for info in infos:
        address = str(info[4][0])
        if not ipaddress.ip_address(address).is_global:
            return address
    return None
