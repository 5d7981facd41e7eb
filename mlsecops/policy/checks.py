"""Validators for policy values: closed vocabularies and checked strings, with errors a person can act on."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence

from pydantic import AfterValidator


def one_of(allowed: Sequence[str], what: str) -> AfterValidator:
    """A closed vocabulary: anything else is an error that lists the allowed values.

    A typo must not pass quietly: `engines: [mlsecops, ficklng]` would stop running fickling."""

    def check(value: str) -> str:
        if value in allowed:
            return value
        hint = difflib.get_close_matches(value, list(allowed), n=1)
        suffix = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ValueError(f"unknown {what} {value!r}{suffix}; allowed: {', '.join(allowed)}")

    return AfterValidator(check)


def checked(check: Callable[[str], str | None]) -> AfterValidator:
    """A string validated by `check`, which returns why the value is unusable (or None)."""

    def validate(value: str) -> str:
        why = check(value)
        if why:
            raise ValueError(why)
        return value

    return AfterValidator(validate)
