"""What a client's address is counted as by per-IP limits (the request limits of
Flask-Limiter and the SMS send limits alike).

An IPv6 address counts as its /64: one customer's router is handed a whole /64, so
counting single addresses would give one attacker 2**64 budgets. An IPv4-mapped IPv6
address counts as its IPv4 address. Limit: a whole /64 shares one budget, as a NAT'd IPv4
network shares its address.
"""
from __future__ import annotations

import ipaddress

from flask import request


def network_key(ip: str) -> str:
    """The IPv4 address, or the /64 of an IPv6 address. Text that is not an address (a
    proxy's odd header) is counted as it is rather than refused."""
    text = ip.strip()
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return text.lower()
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(address) >> 64 << 64, 64)))
    return str(address)


def request_network() -> str:
    """The current request's client network: the key of every per-IP request limit.
    (The client address is the one ProxyFix derived from TRUSTED_PROXY_COUNT proxies.)"""
    return network_key(request.remote_addr or "127.0.0.1")
