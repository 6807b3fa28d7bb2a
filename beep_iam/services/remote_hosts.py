"""Which hosts this server may fetch from on a client's behalf (SSRF).

A client's ``jwks_uri`` and ``backchannel_logout_uri`` are fetched or called by the server
itself, from inside its network: a URI naming the cloud metadata service
(``169.254.169.254``), a private address or ``localhost`` would let whoever registers a client
read or poke internal services. :func:`internal_host_reason` is the one rule, used at
registration (``oauth_validation.validate_fetch_uri``); code that fetches such a URI later
must also check every address the name resolves to with :func:`is_internal_address` (a
public name can resolve to a private address, and change between the check and the fetch),
and connect to the address it checked.
"""

from __future__ import annotations

import ipaddress
import socket

# Names that lead inside whatever network the server runs in: loopback, mDNS, the
# private-use top-level names (RFC 6761, RFC 8375, ICANN's .internal), and cloud metadata
# services reached by a short name.
INTERNAL_NAMES = frozenset({"localhost", "localhost.localdomain"})
INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa", ".localdomain")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _literal_address(host: str) -> IPAddress | None:
    """``host`` as the address a resolver would read it as, or None for a name.

    ``getaddrinfo`` (and so every HTTP client) also reads IPv4 in the old ``inet_aton``
    forms: ``2852039166``, ``0xa9.0xfe.0xa9.0xfe``, ``0251.0376.0251.0376``.
    """
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        pass
    if not text or not all(ch.isalnum() or ch == "." for ch in text):
        return None
    if not text[0].isdigit():
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


def is_internal_address(address: str | IPAddress) -> bool:
    """Whether connecting to ``address`` reaches something not on the public internet."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None and is_internal_address(mapped):
            return True
        if ip.teredo is not None:
            return True
    return not ip.is_global or ip.is_multicast


def internal_host_reason(host: str) -> str | None:
    """Why ``host`` (a URI's host, as ``urlsplit(...).hostname`` gives it) is not a public
    host to fetch from, or None if it is one."""
    name = host.strip().lower().rstrip(".")
    if not name:
        return "it has no host"
    address = _literal_address(name)
    if address is not None:
        if is_internal_address(address):
            return f"{address} is a private, loopback, link-local or reserved address"
        return None
    if name in INTERNAL_NAMES or name.endswith(INTERNAL_SUFFIXES):
        return f"{name!r} names a local or internal host"
    if "." not in name:
        # Single-label names are completed by the resolver's search domains: internal hosts.
        return f"{name!r} is not a fully qualified domain name"
    return None
