"""Where a webhook may be delivered: public addresses only, unless
`DAM_WEBHOOK_ALLOW_PRIVATE_NETWORKS` allows loopback, link-local and private ranges (a
receiver inside the same network, or tests).

An admin can subscribe any URL, so without this a webhook would be a way to make the service
POST to its own metadata endpoint (169.254.169.254), its database, or anything on the internal
network. The check is made on the addresses the name resolves to, at every delivery, and the
connection then goes to the very address that was checked (the name is not resolved again), so
a name that resolves to a public address when checked and to a private one a moment later (DNS
rebinding) gets nowhere. `httpx` keeps the certificate check and SNI on the name.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedDestination(ValueError):
    """The URL leads to an address webhooks may not reach."""


def is_private(address: Address) -> bool:
    """Loopback, link-local, private, shared (CGNAT), reserved, multicast or unspecified:
    anything that is not a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def literal_address(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def check_url_host(url: str, *, allow_private: bool) -> None:
    """At subscription: refuses an address literal or a name of this machine that no
    delivery could reach. Names are judged again, resolved, at every delivery."""
    if allow_private:
        return
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    address = literal_address(host)
    if address is not None and is_private(address):
        raise BlockedDestination(f"{host} is a loopback, link-local or private address")
    if host == "localhost" or host.endswith(".localhost"):
        raise BlockedDestination(f"{host} is this machine")


@dataclass(frozen=True)
class Pinned:
    """A request target bound to one checked address."""

    url: str  # the URL with the host replaced by the address
    host_header: str
    server_name: str  # for SNI and the certificate check
    address: str


def pin(url: str, *, allow_private: bool) -> Pinned:
    """Resolves the URL's host once, refuses it if any address is off limits, and returns
    the URL bound to the first address."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    literal = literal_address(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise BlockedDestination(f"{host} does not resolve: {exc}") from exc
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
    if not allow_private:
        blocked = [a for a in addresses if is_private(a)]
        if blocked:
            raise BlockedDestination(
                f"{host} resolves to {blocked[0]}, a loopback, link-local or private address "
                "(set DAM_WEBHOOK_ALLOW_PRIVATE_NETWORKS=true to allow internal receivers)"
            )
    chosen = addresses[0]
    netloc_host = f"[{chosen}]" if chosen.version == 6 else str(chosen)
    netloc = f"{netloc_host}:{parts.port}" if parts.port else netloc_host
    pinned = SplitResult(parts.scheme, netloc, parts.path, parts.query, "").geturl()
    host_header = parts.netloc.rpartition("@")[2]
    return Pinned(url=pinned, host_header=host_header, server_name=host, address=str(chosen))
