"""The private or local hosts the tool may call all the same: REGISTRATION_ALLOWED_HOSTS.

In production the tool refuses to call platforms on private or local addresses (a
registration URL's ``openid_configuration`` or a launch's service URLs could otherwise make
it call internal services). A municipality's Moodle on its own network is admitted by
naming it: its host name, its address, or a range (CIDR) holding the addresses its name
resolves to. Pure parsing and matching; the DNS lookup happens where the call is made.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Iterable

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: A DNS host name: dot-separated labels of letters, digits and inner hyphens.
_HOST_NAME = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*")


@dataclasses.dataclass(frozen=True)
class AllowedHosts:
    """Host names and address ranges admitted although private or local."""

    names: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    def admits(self, host: str, address: Address) -> bool:
        """Whether a call to ``host``, resolved to ``address``, is allowed by the list.

        A named host is admitted at whatever address its name resolves to (its operator
        named it); any other host only when the address lies in one of the ranges.
        """
        if _normalise(host) in self.names:
            return True
        addresses = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            addresses.append(address.ipv4_mapped)
        return any(a in network for a in addresses for network in self.networks)


NO_HOSTS = AllowedHosts()


def _normalise(host: str) -> str:
    return host.strip().lower().rstrip(".")


def parse_allowed_hosts(entries: Iterable[str]) -> AllowedHosts:
    """The list from its entries; ValueError names every entry that is neither a host name
    nor an address or CIDR range."""
    names: set[str] = set()
    networks: list[Network] = []
    bad: list[str] = []
    for entry in entries:
        value = _normalise(entry)
        if not value:
            continue
        try:
            networks.append(ipaddress.ip_network(value.strip("[]"), strict=False))
            continue
        except ValueError:
            pass
        if _HOST_NAME.fullmatch(value) and len(value) <= 253 and "/" not in value:
            names.add(value)
        else:
            bad.append(entry)
    if bad:
        raise ValueError(", ".join(repr(b) for b in bad))
    return AllowedHosts(frozenset(names), tuple(networks))
