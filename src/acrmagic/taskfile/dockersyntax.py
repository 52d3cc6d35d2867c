"""Docker's syntax for the step values the local target does not apply: `ports`, `expose`, networks.

acr-builder pastes `ports` into `docker run -p`, `expose` into `--expose`, a step's `network` into
`--network`, and creates each declared network with `docker network create <name> [--driver d]`, so
in ACR a malformed value fails the run. Locally containers share the host network and networks are
never created, so nothing would notice: these checks refuse at load what ACR would refuse at run
time. The rules are the docker CLI's (go-connections/nat ParsePortSpec, ParsePortRange; the CLI's
--expose handling; the daemon's name rule). Each function gives what is wrong, or None.
"""

from __future__ import annotations

import ipaddress
import re

PROTOCOLS = ("tcp", "udp", "sctp")
_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
PREDEFINED_NETWORKS = ("bridge", "host", "none")
#: the drivers a Docker engine has built in (Linux, then Windows); plugins cannot be installed on an ACR agent
NETWORK_DRIVERS = ("bridge", "ipvlan", "macvlan", "overlay", "nat", "transparent", "l2bridge", "l2tunnel", "ics",
                   "internal", "private")


def _port_range(text: str) -> tuple[int, int] | None:
    """nat.ParsePortRange: `80` or `8000-8010`, each 0..65535, start <= end."""
    start, sep, end = text.partition("-")
    if sep:
        end = end.split("-")[0]  # as nat does: a third part is not looked at
    else:
        end = start
    if not (start.isdigit() and end.isdigit() and start.isascii() and end.isascii()):
        return None
    a, b = int(start), int(end)
    return (a, b) if a <= 65535 and b <= 65535 and a <= b else None


def _split_proto(text: str) -> tuple[str, str]:
    """nat.SplitProtoPort: (protocol, port); tcp when none is given."""
    port, _, proto = text.partition("/")
    if not port:
        return "", ""
    return (proto.split("/")[0] or "tcp"), port


def port_problem(spec: str) -> str | None:
    """A `docker run -p` value: `[ip:][hostPort:]containerPort[/protocol]` (ranges allowed), or the long
    form `published=8080,target=80[,protocol=udp][,mode=host]`."""
    if "=" in spec:  # the CLI turns the long form into the short one (other fields are ignored)
        fields = {"protocol": "tcp"}
        for param in spec.split(","):
            key, sep, value = param.partition("=")
            if not sep:
                return f"{param!r} is not name=value"
            fields[key] = value.split("=")[0]
        spec = f"{fields.get('published', '')}:{fields.get('target', '')}/{fields['protocol']}"
    parts = spec.split(":")
    container = parts[-1]
    host = parts[-2] if len(parts) > 1 else ""
    ip = ":".join(parts[:-2])
    proto, container = _split_proto(container)
    if ip.startswith("["):
        if not ip.endswith("]"):
            return f"invalid IP address {ip}"
        ip = ip[1:-1]
    if ip:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            return f"invalid IP address {ip}"
        if "%" in ip:  # Go's net.ParseIP takes no IPv6 zone
            return f"invalid IP address {ip}"
    if not container:
        return "no container port"
    ports = _port_range(container)
    if ports is None:
        return f"invalid container port {container}"
    if host:
        host_ports = _port_range(host)
        if host_ports is None:
            return f"invalid host port {host}"
        if ports[1] - ports[0] != host_ports[1] - host_ports[0] and ports[0] != ports[1]:
            return f"the ranges {host} and {container} differ in length"
    if proto.lower() not in PROTOCOLS:
        return f"invalid protocol {proto} (use {', '.join(PROTOCOLS)})"
    return None


def expose_problem(spec: str) -> str | None:
    """A `docker run --expose` value: `port[/protocol]` or `start-end[/protocol]`, no host part."""
    if ":" in spec:
        return "--expose takes no host part (no ':')"
    proto, port = _split_proto(spec)
    if not port or _port_range(port) is None:
        return f"invalid port or range {port or spec!r}"
    if proto.lower() not in PROTOCOLS:
        return f"invalid protocol {proto} (use {', '.join(PROTOCOLS)})"
    return None


def network_name_problem(name: str) -> str | None:
    if not name:
        return "the name is empty"
    if not _NAME.fullmatch(name):
        return "a network name is letters, digits and _ . - (starting with a letter or digit)"
    return None


def step_network_problem(value: str) -> str | None:
    """A `docker run --network` value: a network name, or `container:<name or id>`."""
    kind, sep, target = value.partition(":")
    if sep and kind == "container":
        return None if _NAME.fullmatch(target) else "container:<name> needs a container name"
    return network_name_problem(value)


def driver_problem(driver: str) -> str | None:
    if driver and driver not in NETWORK_DRIVERS:
        return f"unknown network driver {driver!r} (Docker's built-in drivers: {', '.join(NETWORK_DRIVERS)})"
    return None
