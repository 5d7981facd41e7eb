"""The Action's inputs, read from `INPUT_*` exactly as the runner names them.

The runner turns an input `fuzz-budget` into the variable `INPUT_FUZZ-BUDGET`:
upper case, hyphens kept, spaces turned into underscores. Defaults live in
action.yml and are applied by the runner; they are repeated here so the
container behaves the same when run by hand with only a few variables set.
A bad value is an `InputError` naming the input, which the adapter reports as a
configuration error (exit 2).
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from mlsecops.findings import STAGE_ORDER, Stage

TRUE = {"true", "yes", "1", "on"}
FALSE = {"false", "no", "0", "off"}


class InputError(Exception):
    """An input the Action cannot use. `str()` names the input and what to write instead."""


def env_name(name: str) -> str:
    """The variable the runner sets for input `name`."""
    return "INPUT_" + name.replace(" ", "_").upper()


class ActionInputs(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str = Field(default=".", description="repository or folder to scan, relative to the workspace")
    policy: str | None = None
    stages: list[Stage] = Field(default_factory=lambda: [Stage.deps, Stage.models, Stage.fuzz, Stage.assess])
    fuzz_budget: float | None = Field(default=None, ge=0, le=3600)
    advisory_db: str | None = None
    sarif_file: str = "mlsecops.sarif"
    sarif_category: str | None = None
    comment: bool = True
    comment_file: str | None = None
    github_token: SecretStr | None = None
    base_ref: str | None = None
    head_ref: str | None = None

    @field_validator("stages", mode="before")
    @classmethod
    def _stages(cls, value: object) -> object:
        if isinstance(value, str):
            names = [s.strip().lower() for s in value.split(",") if s.strip()]
            if not names:
                raise ValueError("no stage given; use a comma list of deps,models,fuzz,assess")
            unknown = [n for n in names if n not in {s.value for s in STAGE_ORDER}]
            if unknown:
                raise ValueError(f"unknown stage {unknown[0]!r}; use a comma list of deps,models,fuzz,assess")
            return list(dict.fromkeys(names))
        return value

    @field_validator("comment", mode="before")
    @classmethod
    def _comment(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip().lower()
            if text in TRUE:
                return True
            if text in FALSE:
                return False
            raise ValueError("must be true or false")
        return value

    @field_validator("sarif_category")
    @classmethod
    def _category(cls, value: str | None) -> str | None:
        from mlsecops.reporters.sarif import category

        return category(value) if value is not None else None

    @field_validator("base_ref", "head_ref")
    @classmethod
    def _revision(cls, value: str | None) -> str | None:
        if value and (value.startswith("-") or any(c.isspace() for c in value)):
            raise ValueError("not a git revision")
        return value


_FIELDS = {
    "path": "path",
    "policy": "policy",
    "stages": "stages",
    "fuzz-budget": "fuzz_budget",
    "advisory-db": "advisory_db",
    "sarif-file": "sarif_file",
    "sarif-category": "sarif_category",
    "comment": "comment",
    "comment-file": "comment_file",
    "github-token": "github_token",
    "base-ref": "base_ref",
    "head-ref": "head_ref",
}


def read(env: Mapping[str, str]) -> ActionInputs:
    """Raise InputError for a value the Action cannot use (never echoing the token)."""
    raw: dict[str, str] = {}
    for name, field in _FIELDS.items():
        value = env.get(env_name(name))
        if value is None:
            continue
        value = value.strip()
        if value == "":
            continue  # an empty input means "use the default"
        raw[field] = value
    if "github_token" not in raw and env.get("GITHUB_TOKEN"):
        raw["github_token"] = env["GITHUB_TOKEN"].strip()
    try:
        return ActionInputs.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else ""
        name = next((n for n, f in _FIELDS.items() if f == field), field)
        shown = "" if field == "github_token" else f" (got {raw.get(field, '')[:80]!r})"
        raise InputError(f"input {name!r}: {err['msg'].removeprefix('Value error, ')}{shown}") from None
