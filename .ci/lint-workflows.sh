#!/usr/bin/env bash
# Lint action.yml, from-source/action.yml, the example workflows and the repository's own
# workflows with zizmor (security: injection, pinning, permissions, credentials) and actionlint
# (syntax, expressions, action inputs, shellcheck on run: scripts). actionlint checks workflows,
# not action metadata, so a generated workflow uses both local actions with every input they
# declare: actionlint then reads and validates action.yml and from-source/action.yml.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
[ -x "$BIN/zizmor" ] && [ -x "$BIN/actionlint" ] || { echo "lint: zizmor and actionlint come with make setup" >&2; exit 1; }
if ! command -v shellcheck >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null 2>&1 || true
  fi
  command -v shellcheck >/dev/null 2>&1 || echo "lint: no shellcheck, so actionlint does not check run: scripts"
fi
FILES=(action.yml from-source/action.yml examples/workflows/*.yml .github/workflows/*.yml)

"$BIN/zizmor" --offline --config .ci/zizmor.yml --no-progress "${FILES[@]}"

TMP=$(mktemp -d -p .ci lint.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
.venv/bin/python - "$TMP/local-actions.yml" <<'PY'
import sys
import yaml
steps = []
for path in ("./", "./from-source"):
    inputs = yaml.safe_load(open(f"{path}/action.yml"))["inputs"]
    steps.append({"uses": path, "with": {name: "x" for name in inputs}})
workflow = {"on": "pull_request", "permissions": {}, "jobs": {"local": {"runs-on": "ubuntu-latest", "steps": steps}}}
open(sys.argv[1], "w").write(yaml.safe_dump(workflow, sort_keys=False))
PY
"$BIN/actionlint" examples/workflows/*.yml .github/workflows/*.yml "$TMP/local-actions.yml"
echo "lint: zizmor and actionlint found nothing in ${#FILES[@]} files"
