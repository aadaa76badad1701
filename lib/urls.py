"""The one rule for the URLs mediahook opens itself with ``urlopen`` (the TDMQ-CMQ API in ``lib/cmq.py``, the
CLI's posts in ``lib/cli/common.py``): ``https`` only, or ``http`` to this machine's loopback address.

Why: a CMQ request carries a signature and a secret id, a CLI post a signed body or a ``?token=``; over plain
http on a network they travel in clear, and ``urlopen`` would also follow ``file:`` or ``ftp:``. The loopback
exception is for the local stand-ins (the fakes in tests/fakes/, moto, serverless-offline), which never leave
the machine. Standard library only: the CLI imports it before anything heavy."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

# The rule in one phrase, for the messages that name the URL themselves (the CLI's --url refusal).
RULE = "an https:// URL expected (http:// only to 127.0.0.1, ::1 or localhost, for a local stack)"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def insecure_url(url: str) -> str | None:
    """Why ``url`` may not be opened (one sentence), or None if it may: ``https://host...``, or
    ``http://`` to 127.0.0.0/8, ::1 or localhost."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return None
    return f"{RULE}, got {url!r}"


def require_secure_url(url: str, what: str) -> str:
    """``url`` itself if it may be opened, else ValueError naming ``what`` (the option or variable it came from)."""
    if problem := insecure_url(url):
        raise ValueError(f"{what}: {problem}")
    return url
