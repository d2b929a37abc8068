"""Resource amounts: what a job needs (its `resources` field) and what a worker offers
(`worker start --resources`). Pure: no I/O (finding the host's CPUs, memory and GPUs is the
worker's business).

Amounts are kept as whole numbers in a base unit, so that adding and comparing them is exact:
`cpu` in thousandths of a CPU (0.5 → 500), `memory` in bytes, every other name (`gpu`,
`licence`, ...) in whole units. A name is `[a-z][a-z0-9_]*`, a job names at most
`MAX_NAMES` of them, and an amount of 0 is the same as leaving the name out.

Written forms: `cpu` a decimal with at most three places (`0.5`, `8`); `memory` a whole number
of bytes or a number with a binary unit, `K`/`M`/`G`/`T` (also `Ki`, `KiB`, ..., all meaning
1024-based; `1.5G` is fine when it comes to whole bytes); other names whole numbers.
Every problem raises `errors.InvalidJob` (a job's field) or `errors.UsageError` (a worker's
`--resources`), one line naming the resource.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation

from queuectl import errors

__all__ = [
    "CPU",
    "GPU",
    "MAX_NAMES",
    "MEMORY",
    "Amounts",
    "add",
    "fits",
    "format_amount",
    "format_amounts",
    "parse_job",
    "parse_offer",
    "pick_gpus",
    "shortfall",
    "subtract",
    "to_json",
]

CPU, MEMORY, GPU = "cpu", "memory", "gpu"
MAX_NAMES = 16
#: Whole units in one written unit, per name (cpu is kept in thousandths).
_SCALE = {CPU: 1000}
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_MAX_NAME_LENGTH = 63
_DECIMAL = re.compile(r"([0-9]{1,30})(?:\.([0-9]{1,30}))?")
_MEMORY = re.compile(r"([0-9]{1,30}(?:\.[0-9]{1,30})?)\s*(?:([KMGT])(?:i?B|i)?|B)?",
                     re.IGNORECASE)
_POWER = {"": 0, "K": 1, "M": 2, "G": 3, "T": 4}
#: Upper bounds, so that no sum of amounts can overflow a bigint: a million CPUs, 1 EiB of
#: memory, a million of anything else.
_MAX = {CPU: 1_000_000 * 1000, MEMORY: 2**60}
_MAX_OTHER = 1_000_000

#: name → amount in the name's base unit; never holds a 0.
Amounts = dict[str, int]


def parse_job(value: object, where: str = "") -> Amounts:
    """A job's `resources` field (a JSON object of amounts) in base units; raises InvalidJob."""
    if not isinstance(value, dict):
        raise errors.InvalidJob(
            f"{where}field 'resources' must be an object such as "
            f'{{"cpu": 2, "memory": "4G"}}, got {type(value).__name__}')
    if len(value) > MAX_NAMES:
        raise errors.InvalidJob(
            f"{where}field 'resources' names {len(value)} resources; at most {MAX_NAMES}")
    amounts: Amounts = {}
    for name, raw in value.items():
        try:
            _check_name(name)
            amount = _parse_amount(name, raw)
        except ValueError as exc:
            raise errors.InvalidJob(f"{where}field 'resources': {exc}") from None
        if amount:
            amounts[name] = amount
    return amounts


def parse_offer(text: str) -> Amounts:
    """`cpu=16,memory=64G,gpu=2,licence=5` (what a worker may hand out) in base units; an
    amount of 0 stays in the result, as "none of it here". Raises UsageError."""
    amounts: Amounts = {}
    for part in text.split(","):
        name, sep, raw = part.strip().partition("=")
        name, raw = name.strip(), raw.strip()
        try:
            if not sep or not name or not raw:
                raise ValueError(f"expected NAME=AMOUNT such as cpu=4 or memory=16G, got "
                                 f"{part.strip()!r}")
            _check_name(name)
            if name in amounts:
                raise ValueError(f"{name} is given twice")
            amounts[name] = _parse_amount(name, raw)
        except ValueError as exc:
            raise errors.UsageError(f"invalid --resources: {exc}") from None
    if len(amounts) > 64:
        raise errors.UsageError("invalid --resources: at most 64 names")
    return amounts


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > _MAX_NAME_LENGTH:
        raise ValueError(f"resource names are lowercase letters, digits and _, starting with a "
                         f"letter (at most {_MAX_NAME_LENGTH}), got {name!r}")


def _parse_amount(name: str, raw: object) -> int:
    """One amount, written as JSON (number or string) or as text, in the name's base unit."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError(f"{name} must be a number, got {_show(raw)}")
    if isinstance(raw, float) and raw != raw:  # NaN
        raise ValueError(f"{name} must be a number, got {raw!r}")
    if name == MEMORY:
        amount = _memory(raw)
    else:
        amount = _scaled(name, raw)
    limit = _MAX.get(name, _MAX_OTHER)
    if amount > limit:
        raise ValueError(f"{name} must be at most {format_amount(name, limit)}, got {_show(raw)}")
    return amount


def _scaled(name: str, raw: int | float | str) -> int:
    scale = _SCALE.get(name, 1)
    text = raw.strip() if isinstance(raw, str) else repr(raw)
    if isinstance(raw, float) and "e" in text.lower():
        text = format(Decimal(raw), "f")
    match = _DECIMAL.fullmatch(text)
    if not match:
        what = "a non-negative number such as 0.5 or 2" if scale > 1 else "a whole number"
        raise ValueError(f"{name} must be {what}, got {_show(raw)}")
    value = Decimal(text) * scale
    if value != value.to_integral_value():
        raise ValueError(f"{name} must be a whole number, got {_show(raw)}" if scale == 1
                         else f"{name} takes at most three decimal places, got {_show(raw)}")
    return int(value)


def _memory(raw: int | float | str) -> int:
    text = raw.strip() if isinstance(raw, str) else repr(raw)
    match = _MEMORY.fullmatch(text)
    if not match or (isinstance(raw, float) and "e" in text.lower()):
        raise ValueError(f"memory must be bytes or a number with K, M, G or T (binary units) "
                         f"such as 512M or 16G, got {_show(raw)}")
    try:
        number = Decimal(match.group(1))
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise ValueError(f"memory must be a number, got {_show(raw)}") from None
    value = number * 1024 ** _POWER[(match.group(2) or "").upper()]
    if value != value.to_integral_value():
        raise ValueError(f"memory must come to whole bytes, got {_show(raw)}")
    return int(value)


def _show(raw: object) -> str:
    return repr(raw) if isinstance(raw, str) else str(raw).lower() if isinstance(
        raw, bool) else repr(raw) if isinstance(raw, int | float) else type(raw).__name__


def format_amount(name: str, amount: int) -> str:
    """`cpu` 500 → `0.5`, `memory` 17179869184 → `16G`, `gpu` 2 → `2`."""
    if name == MEMORY:
        for unit in ("T", "G", "M", "K"):
            size = 1024 ** _POWER[unit]
            if amount >= size and amount % size == 0:
                return f"{amount // size}{unit}"
        return str(amount)
    scale = _SCALE.get(name, 1)
    if scale == 1:
        return str(amount)
    whole, part = divmod(amount, scale)
    return f"{whole}.{part:03d}".rstrip("0").rstrip(".") if part else str(whole)


def format_amounts(amounts: Mapping[str, int]) -> str:
    """`cpu=8,memory=16G` in a stable order (cpu, memory, gpu, then by name); `-` for none."""
    return ",".join(f"{n}={format_amount(n, amounts[n])}" for n in _ordered(amounts)) or "-"


def to_json(amounts: Mapping[str, int]) -> dict[str, int | float]:
    """The amounts as `resources` is shown in JSON: cpu as a number of CPUs (0.5), memory in
    bytes, others whole numbers."""
    shown: dict[str, int | float] = {}
    for name in _ordered(amounts):
        scale = _SCALE.get(name, 1)
        value = amounts[name]
        shown[name] = value if scale == 1 else (
            value // scale if value % scale == 0 else value / scale)
    return shown


def _ordered(amounts: Iterable[str]) -> list[str]:
    first = (CPU, MEMORY, GPU)
    names = set(amounts)
    return [n for n in first if n in names] + sorted(names - set(first))


def fits(need: Mapping[str, int], free: Mapping[str, int]) -> bool:
    """Whether every amount of `need` is within `free` (a name `free` lacks offers 0)."""
    return all(amount <= free.get(name, 0) for name, amount in need.items())


def subtract(free: Mapping[str, int], need: Mapping[str, int]) -> Amounts:
    """`free` less `need` (which must fit)."""
    if not fits(need, free):
        raise ValueError(f"{format_amounts(need)} does not fit in {format_amounts(free)}")
    return {**free, **{n: free.get(n, 0) - a for n, a in need.items()}}


def add(free: Mapping[str, int], back: Mapping[str, int]) -> Amounts:
    """`free` plus `back` (amounts handed back by a job that ended)."""
    return {**free, **{n: free.get(n, 0) + a for n, a in back.items()}}


def shortfall(need: Mapping[str, int], offers: Iterable[Mapping[str, int]]) -> str | None:
    """Why a job cannot fit on any of these workers' whole capacities, or None if one could
    take it: `needs gpu=4; the largest live worker offers gpu=2` (or `no live worker`)."""
    capacities = list(offers)
    if any(fits(need, c) for c in capacities):
        return None
    wants = format_amounts(need)
    if not capacities:
        return f"needs {wants}; no live worker"
    # The worker that falls short in the fewest names, then offers most of what is short.
    def short(capacity: Mapping[str, int]) -> list[str]:
        return [n for n, a in need.items() if a > capacity.get(n, 0)]
    best = min(capacities, key=lambda c: (len(short(c)),
                                          [-c.get(n, 0) for n in sorted(short(c))]))
    missing = sorted(short(best))
    needed = format_amounts({n: need[n] for n in missing})
    offered = ",".join(f"{n}={format_amount(n, best.get(n, 0))}" for n in _ordered(missing))
    return f"needs {needed}; the largest live worker offers {offered}"


def pick_gpus(count: int, devices: Iterable[int], held: Iterable[int]) -> list[int]:
    """`count` device indices of `devices` that are not `held`, lowest first."""
    busy = set(held)
    free = sorted(d for d in set(devices) if d not in busy)
    if count > len(free):
        raise ValueError(f"{count} GPUs wanted, {len(free)} free")
    return free[:count]
