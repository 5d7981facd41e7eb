"""Harmless classes whose names mark where a generated file imports something: the loaders'
recording `find_class` and the scanner's findings are compared by these names."""

from __future__ import annotations


class _Marker:
    def __init__(self, value: object = None) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and getattr(other, "value", None) == self.value


NAMES = [f"M{i}" for i in range(40)]
for _name in NAMES:
    globals()[_name] = type(_name, (_Marker,), {"__module__": __name__, "__qualname__": _name})


def marker(i: int, value: object = None) -> _Marker:
    return globals()[NAMES[i % len(NAMES)]](value)  # type: ignore[no-any-return]
