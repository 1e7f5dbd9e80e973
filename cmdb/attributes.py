"""Typed attributes per configuration-item kind. Unknown names and wrong types are refused with a
message naming the attribute, so the CMDB's free-form part stays trustworthy."""

import ipaddress

from cmdb.choices import CIKind


def _ip(value):
    ipaddress.ip_address(str(value))
    return str(value)


def _positive_int(value):
    if isinstance(value, bool):
        raise ValueError
    number = int(value)
    if number < 0 or str(number) != str(value).strip():
        raise ValueError
    return number


def _text(value):
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ValueError
    text = str(value).strip()
    if len(text) > 200:
        raise ValueError
    return text


def _tier(value):
    number = _positive_int(value)
    if number not in (1, 2, 3, 4):
        raise ValueError
    return number


TYPES = {
    _ip: "an IP address",
    _positive_int: "a whole number ≥ 0",
    _text: "text of at most 200 characters",
    _tier: "a tier from 1 to 4",
}

_HARDWARE = {
    "serial_number": _text,
    "os": _text,
    "ip_address": _ip,
    "cpu_cores": _positive_int,
    "memory_gb": _positive_int,
}

SCHEMAS: dict[str, dict] = {
    CIKind.SERVER: {**_HARDWARE, "rack": _text},
    CIKind.VIRTUAL_MACHINE: {**_HARDWARE, "hypervisor": _text},
    CIKind.WORKSTATION: {**_HARDWARE, "assigned_to": _text},
    CIKind.LAPTOP: {**_HARDWARE, "assigned_to": _text},
    CIKind.NETWORK_DEVICE: {
        "serial_number": _text,
        "ip_address": _ip,
        "ports": _positive_int,
        "firmware": _text,
    },
    CIKind.STORAGE: {"serial_number": _text, "ip_address": _ip, "capacity_tb": _positive_int},
    CIKind.SOFTWARE: {"vendor": _text, "edition": _text},
    CIKind.SERVICE: {"tier": _tier, "support_group": _text, "url": _text},
    CIKind.APPLICATION: {"tier": _tier, "support_group": _text, "url": _text, "repository": _text},
}


def validate_attributes(kind: str, attributes) -> tuple[dict, dict[str, str]]:
    """Return the cleaned attributes and ``{name: message}`` for every problem."""
    if attributes in (None, ""):
        return {}, {}
    if not isinstance(attributes, dict):
        return {}, {"attributes": "Give the attributes as an object of name → value."}
    schema = SCHEMAS.get(kind)
    if schema is None:
        return {}, {"kind": f"Unknown kind {kind!r}."}
    cleaned, errors = {}, {}
    for name, value in attributes.items():
        parser = schema.get(name)
        if parser is None:
            allowed = ", ".join(sorted(schema))
            errors[name] = f"Not an attribute of a {kind.replace('_', ' ')} (allowed: {allowed})."
            continue
        if value in (None, ""):
            continue
        try:
            cleaned[name] = parser(value)
        except (TypeError, ValueError):
            errors[name] = f"Must be {TYPES[parser]}; got {value!r}."
    return cleaned, errors
