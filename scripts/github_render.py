"""Render a PR comment the way people see it on GitHub, and measure it.

Markdown goes through cmark-gfm (`cmarkgfm`, GitHub's fork of cmark) with GitHub's
extensions (table, strikethrough, autolink, tagfilter, tasklist) and raw HTML kept, as
GitHub keeps `<details>`, `<sub>` and `<code>`; the HTML is laid out by headless Chromium in
a 1,000 px wide page styled with primer's github-markdown-css (MIT, vendored in
`scripts/assets/`). `height` measures the rendered comment; `screenshot` writes a PNG.

Used by tests/test_comment_rendering.py and scripts/comment_picture.py.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

ASSETS = Path(__file__).resolve().parent / "assets"
WIDTH = 1000
EXTENSIONS = ["table", "strikethrough", "autolink", "tagfilter", "tasklist"]
_CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                   "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                   "--force-device-scale-factor=1", "--default-background-color=ffffffff"]


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def to_html(markdown: str) -> str:
    """GitHub-flavoured HTML of `markdown`, as cmark-gfm renders it (raw HTML kept, tagfilter on)."""
    import cmarkgfm
    from cmarkgfm.cmark import Options

    return cmarkgfm.markdown_to_html_with_extensions(markdown, options=Options.CMARK_OPT_UNSAFE, extensions=EXTENSIONS)


def page(markdown: str, open_details: bool = False) -> str:
    """A 1,000 px wide page with the comment in GitHub's markdown-body styles. A script records
    the rendered height in the DOM (read back with --dump-dom)."""
    css = (ASSETS / "github-markdown-light.css").read_text(encoding="utf-8")
    body = to_html(markdown)
    if open_details:
        body = body.replace("<details>", "<details open>")
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>{css}
html, body {{ margin: 0; background: #fff; }}
.markdown-body {{ box-sizing: border-box; width: {WIDTH}px; padding: 16px; font-family: -apple-system, "Segoe UI",
  "Noto Sans", Helvetica, Arial, sans-serif, "Apple Color Emoji", "Noto Color Emoji"; }}
</style></head><body><article class="markdown-body" id="comment">{body}</article>
<script>document.body.setAttribute("data-height", Math.ceil(document.getElementById("comment").getBoundingClientRect().height));</script>
</body></html>"""


def _run(args: list[str], profile: Path, timeout: float) -> str:
    exe = chromium()
    if exe is None:
        raise RuntimeError("Chromium is not installed (Debian: apt-get install chromium)")
    proc = subprocess.run([exe, *_CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"chromium failed ({proc.returncode}): {proc.stderr[-800:]}")
    return proc.stdout


def height(markdown: str, timeout: float = 120) -> int:
    """The rendered comment's height in CSS pixels at 1,000 px wide."""
    with tempfile.TemporaryDirectory(prefix="mlsecops-render-") as tmp:
        src = Path(tmp) / "comment.html"
        src.write_text(page(markdown), encoding="utf-8")
        dom = _run(["--dump-dom", src.as_uri()], Path(tmp) / "profile", timeout)
    m = re.search(r'data-height="(\d+)"', dom)
    if not m:
        raise RuntimeError("the page did not report its height")
    return int(m.group(1))


def screenshot(markdown: str, png: Path, timeout: float = 120) -> int:
    """Write the rendered comment as a PNG exactly as tall as the comment; return its height."""
    h = height(markdown, timeout)
    with tempfile.TemporaryDirectory(prefix="mlsecops-render-") as tmp:
        src = Path(tmp) / "comment.html"
        src.write_text(page(markdown), encoding="utf-8")
        _run([f"--screenshot={png.absolute()}", f"--window-size={WIDTH},{h}", src.as_uri()], Path(tmp) / "profile", timeout)
    return h


def text_of(markdown: str) -> str:
    """What a reader sees (tags stripped, entities decoded): for assertions on rendered text."""
    return html.unescape(re.sub(r"<[^>]+>", "", to_html(markdown))).strip()
