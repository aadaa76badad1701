"""The guard that makes a destination URL safe to post to from inside AWS.

A destination's host is resolved once per attempt and every address checked; the connection then goes to
the checked address (lib/forward/transport.py), so a DNS answer that changes between the check and the
connect (rebinding) cannot reach what the check refused. Refused: link-local (169.254.0.0/16, fe80::/10:
where the instance-metadata service lives), the metadata addresses themselves (169.254.169.254,
fd00:ec2::254, 100.100.100.200 on Alibaba-style clouds), unspecified and multicast addresses, and loopback
unless local mode allows it (``make serve``/``make demo``: the endpoint is on 127.0.0.1).
"""

from __future__ import annotations

import ipaddress
import socket

METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200"))


class RefusedDestination(Exception):
    """The destination's host resolves to an address mediahook must not post to."""


def refusal(address: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_loopback: bool) -> str | None:
    """Why ``address`` is refused, or None when it may be posted to."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return "an instance-metadata address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_loopback and not allow_loopback:
        return "a loopback address"
    if address.is_unspecified or address.is_multicast:
        return "not a unicast address"
    return None


def resolve(host: str, port: int, allow_loopback: bool) -> str:
    """The first address of ``host`` after checking all of them; raises ``RefusedDestination`` if any is
    refused (a host that also resolves to a metadata address is not to be trusted with the others), and
    ``OSError`` when the name does not resolve (a retried connection error)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = [str(info[4][0]) for info in infos]
    for text in addresses:
        reason = refusal(ipaddress.ip_address(text.split("%")[0]), allow_loopback)
        if reason:
            raise RefusedDestination(f"{host} resolves to {text}: {reason}")
    if not addresses:
        raise OSError(f"{host} did not resolve")
    return addresses[0]
