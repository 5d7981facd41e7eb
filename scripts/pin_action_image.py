#!/usr/bin/env python3
"""Pin action.yml to a published image by tag and digest, or check that it is pinned.

The Action runs a prebuilt image (`runs.image: docker://IMAGE:TAG@sha256:DIGEST`). The digest
exists only once the release workflow (.github/workflows/release.yml) has pushed the image,
so that workflow calls this script to write it into action.yml on the release commit, and
tests and CI call it with --check:

    python scripts/pin_action_image.py action.yml --image ghcr.io/mlsecops/mlsecops \
        --tag v0.1.0 --digest sha256:<64 hex>
    python scripts/pin_action_image.py action.yml --check [--tag v0.1.0]

Only the `image:` line under `runs:` changes; comments and layout stay. Standard library only:
the release job runs it with the runner's python3.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import NamedTuple

# docker://REGISTRY[:PORT]/PATH:TAG@sha256:DIGEST, the form the runner hands to `docker pull`.
_REF = re.compile(
    r"^docker://(?P<image>[a-z0-9.-]+(?::[0-9]{1,5})?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)+)"
    r":(?P<tag>v[0-9]+\.[0-9]+\.[0-9]+(?:[-.+][0-9A-Za-z.-]+)?)"
    r"@(?P<digest>sha256:[0-9a-f]{64})$"
)
_IMAGE_LINE = re.compile(r"^(?P<indent>[ \t]+)image:[ \t]*(?P<quote>[\"']?)(?P<ref>[^\"'#\s]*)(?P=quote)(?P<rest>[ \t]*(?:#.*)?)$",
                         re.M)
UNPUBLISHED = "sha256:" + "0" * 64  # the digest action.yml carries until the first release


class ImageRef(NamedTuple):
    image: str
    tag: str
    digest: str

    def __str__(self) -> str:
        return f"docker://{self.image}:{self.tag}@{self.digest}"


def parse(ref: str) -> ImageRef:
    """Raise ValueError unless `ref` names an image by tag AND digest."""
    m = _REF.match(ref)
    if not m:
        raise ValueError(f"{ref!r} is not docker://IMAGE:vX.Y.Z@sha256:<64 hex>")
    return ImageRef(m["image"], m["tag"], m["digest"])


def runs_image(text: str) -> str:
    """The `image:` value of the `runs:` block (the only `image:` key in an action.yml)."""
    runs = re.search(r"^runs:[ \t]*$", text, re.M)
    if not runs:
        raise ValueError("no `runs:` block")
    found = list(_IMAGE_LINE.finditer(text, runs.end()))
    if len(found) != 1:
        raise ValueError(f"expected one `image:` line under `runs:`, found {len(found)}")
    return found[0]["ref"]


def pin(text: str, ref: ImageRef) -> str:
    """`text` with the `runs.image` value replaced by `ref`."""
    runs_image(text)  # exactly one, or ValueError
    runs = re.search(r"^runs:[ \t]*$", text, re.M)
    assert runs is not None
    head, tail = text[: runs.end()], text[runs.end():]
    new_tail = _IMAGE_LINE.sub(lambda m: f"{m['indent']}image: {ref}{m['rest']}", tail, count=1)
    return head + new_tail


def pin_uses(text: str, ref: ImageRef) -> str:
    """`text` (a workflow) with every `uses: docker://IMAGE...` step of the same image set to `ref`."""
    pattern = re.compile(r"^(?P<lead>[ \t]*(?:-[ \t]+)?uses:[ \t]*)docker://" + re.escape(ref.image) + r"[:@]\S*", re.M)
    return pattern.sub(lambda m: f"{m['lead']}{ref}", text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("action_yml", type=Path)
    p.add_argument("--image", help="registry path, e.g. ghcr.io/mlsecops/mlsecops")
    p.add_argument("--tag", help="the release tag, e.g. v0.1.0")
    p.add_argument("--digest", help="sha256:<64 hex> of the pushed image (manifest list)")
    p.add_argument("--check", action="store_true", help="only check that action.yml is pinned (and to --tag)")
    p.add_argument("--workflows", type=Path, nargs="*", default=[],
                   help="workflows whose `uses: docker://IMAGE` steps get the same pin")
    args = p.parse_args(argv)
    text = args.action_yml.read_text(encoding="utf-8")
    try:
        if args.check:
            ref = parse(runs_image(text))
            if args.tag and ref.tag != args.tag:
                raise ValueError(f"action.yml runs {ref.tag}, expected {args.tag}")
            note = " (not published yet: the release workflow fills in the digest)" if ref.digest == UNPUBLISHED else ""
            print(f"{args.action_yml}: {ref}{note}")
            return 0
        if not (args.image and args.tag and args.digest):
            p.error("--image, --tag and --digest are required (or --check)")
        ref = parse(f"docker://{args.image}:{args.tag}@{args.digest}")
        if ref.digest == UNPUBLISHED:
            raise ValueError("that is the placeholder digest, not a pushed image's")
        args.action_yml.write_text(pin(text, ref), encoding="utf-8")
        print(f"{args.action_yml}: runs {ref}")
        for workflow in args.workflows:
            workflow.write_text(pin_uses(workflow.read_text(encoding="utf-8"), ref), encoding="utf-8")
            print(f"{workflow}: uses {ref}")
        return 0
    except ValueError as exc:
        print(f"pin_action_image: {args.action_yml}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
