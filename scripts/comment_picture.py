"""Write docs/comment.png: the demo pull request's comment as GitHub shows it.

    python scripts/comment_picture.py out/report.json docs/comment.png    (or: make comment-picture)

Renders the JSON report of `make demo` with the gate's own templates, as the Action would
on a repository `https://github.com/acme/model-service` (file links at the head commit),
then lays it out with cmark-gfm and headless Chromium (scripts/github_render.py) at 1,000 px
wide. Prints the height. Needs Chromium (Debian: apt-get install chromium fonts-noto-color-emoji).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import github_render  # noqa: E402

from mlsecops.reporters import markdown  # noqa: E402
from mlsecops.reporters.report_model import Report  # noqa: E402

DEMO_REPO_URL = "https://github.com/acme/model-service"
DEMO_RUN_URL = "https://github.com/acme/model-service/actions/runs/1"


def demo_markdown(report_json: Path) -> str:
    verdict = Report.model_validate(json.loads(report_json.read_text(encoding="utf-8"))).to_verdict()
    return markdown.render(verdict, repo_url=DEMO_REPO_URL, report_url=DEMO_RUN_URL)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    height = github_render.screenshot(demo_markdown(Path(argv[1])), Path(argv[2]))
    print(f"{argv[2]}: {github_render.WIDTH} x {height} px")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
