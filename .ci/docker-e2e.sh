#!/usr/bin/env bash
# End-to-end test of the container: build the image, run it on the demo repository the way the
# GitHub runner runs a container action (INPUT_*, event JSON, file commands, workspace owned by
# another user, a local stand-in for the REST API), and check exit code, outputs, SARIF, the PR
# comment, the token, and the CLI mode. Prints the image size and cold-start times.
#
#   bash .ci/docker-e2e.sh            (from a clean clone; root or a working docker needed)
#
# Environment:
#   BASE_IMAGE          use this base instead of python:3.11-slim / a Debian-built one
#   MLSECOPS_CI_CACHE   cache folder (default ~/.cache/mlsecops-ci): base rootfs, wheels, results
#   MLSECOPS_SKIP_DOCKER=1  skip (exit 0) when there is no docker and it cannot be installed
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${MLSECOPS_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlsecops-ci}
mkdir -p "$CACHE"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mlsecops-e2e.XXXXXX")
API_PID=""
cleanup() {
  [ -n "$API_PID" ] && kill "$API_PID" 2>/dev/null || true
  rm -rf "$WORK" 2>/dev/null || true
}
trap cleanup EXIT
T0=$(date +%s)
log() { printf '[docker-e2e %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
fail() { printf 'docker-e2e: FAIL: %s\n' "$*" >&2; exit 1; }
# The project's virtualenv (make setup) runs the demo builder, the fake API and the checks.
[ -x "$ROOT/.venv/bin/python" ] || make setup >/dev/null
PY="$ROOT/.venv/bin/python"

# --- 1. A docker daemon -----------------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      log "installing docker.io"
      apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
    elif [ "${MLSECOPS_SKIP_DOCKER:-}" = 1 ]; then
      echo "docker-e2e: no docker and cannot install it: skipped"; exit 0
    else
      fail "no docker daemon, and dockerd cannot be installed (not root)"
    fi
  fi
  log "starting dockerd (log: /tmp/dockerd.log)"
  (nohup dockerd >/tmp/dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { tail -20 /tmp/dockerd.log >&2; fail "dockerd did not start"; }
fi
command -v docker >/dev/null || fail "no docker client"

# --- 2. A base image: the public one if it can be pulled, else one built from Debian packages ---
if [ -z "${BASE_IMAGE:-}" ]; then
  if docker image inspect python:3.11-slim >/dev/null 2>&1 || timeout 60 docker pull -q python:3.11-slim >/dev/null 2>&1; then
    BASE_IMAGE=python:3.11-slim
  else
    printf 'APT::Install-Recommends "false";\n' >"$WORK/norecommends.conf"
    BASE_OPTS=(--variant=minbase --include=python3,python3-venv,git,ca-certificates,libgomp1 --aptopt="$WORK/norecommends.conf"
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*'
      --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*'
      --dpkgopt='path-exclude=/usr/share/info/*')
    BASE_TAG=v2  # bump when BASE_OPTS change
    BASE_IMAGE=mlsecops-base:bookworm-$BASE_TAG
    if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
      TARBALL=$CACHE/base-bookworm-$BASE_TAG.tar
      if [ ! -s "$TARBALL" ]; then
        command -v mmdebstrap >/dev/null || { apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null; }
        log "python:3.11-slim cannot be pulled: building a Debian bookworm base with mmdebstrap"
        mmdebstrap "${BASE_OPTS[@]}" --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
          bookworm "${TARBALL%.tar}.part.tar" >"$WORK/mmdebstrap.log" 2>&1 || { tail -20 "$WORK/mmdebstrap.log" >&2; fail "mmdebstrap"; }
        mv "${TARBALL%.tar}.part.tar" "$TARBALL"
      fi
      docker import "$TARBALL" "$BASE_IMAGE" >/dev/null
    fi
  fi
fi
log "base image: $BASE_IMAGE"

# --- 3. The build context; wheels from the host when PyPI is not reachable from a container -----
CTX=$WORK/context
mkdir -p "$CTX"
tar -cf - --exclude=__pycache__ --exclude='*.pyc' Dockerfile .dockerignore pyproject.toml README.md \
  constraints.txt entrypoint.py mlsecops | tar -xf - -C "$CTX"
if docker run --rm --network host --entrypoint "" "$BASE_IMAGE" python3 -c \
   "import urllib.request as u; u.urlopen('https://pypi.org/simple/pip/', timeout=15)" >/dev/null 2>&1; then
  log "PyPI is reachable from containers: the image installs from it"
else
  KEY=$(cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
  WHEELS=$CACHE/wheels-$KEY
  if [ ! -f "$WHEELS/.complete" ]; then
    log "PyPI is not reachable from containers: downloading pinned wheels on the host"
    rm -rf "$WHEELS"; mkdir -p "$WHEELS"
    "$PY" - >"$WORK/requirements.txt" <<'EOF'
import tomllib
p = tomllib.load(open("pyproject.toml", "rb"))["project"]
print("\n".join(p["dependencies"] + p["optional-dependencies"]["fuzz"] + p["optional-dependencies"]["assess"]))
EOF
    "$PY" -m pip download -q --disable-pip-version-check -d "$WHEELS" --only-binary=:all: \
      --python-version 3.11 --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 --platform manylinux_2_27_x86_64 --platform linux_x86_64 \
      -c constraints.txt -r "$WORK/requirements.txt" "setuptools>=65" 2>&1 | grep -v "is ignored" || true
    ls "$WHEELS"/*.whl >/dev/null 2>&1 || fail "no wheels downloaded"
    touch "$WHEELS/.complete"
  fi
  mkdir -p "$CTX/wheels"
  cp "$WHEELS"/*.whl "$CTX/wheels/"
fi

# --- 4. Build ----------------------------------------------------------------------------------
IMAGE=mlsecops:e2e
B0=$(date +%s)
docker build -q --network host --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$IMAGE" "$CTX" >"$WORK/build.log" 2>&1 \
  || { tail -40 "$WORK/build.log" >&2; fail "docker build"; }
BUILD_S=$(( $(date +%s) - B0 ))
# Earlier e2e images this build replaced (untagged now); the build-stage layers stay as the cache.
docker image prune -f --filter "label=org.opencontainers.image.title=mlsecops" >/dev/null 2>&1 || true
SIZE_MB=$(( $(docker image inspect -f '{{.Size}}' "$IMAGE") / 1000000 ))
log "built $IMAGE in ${BUILD_S}s: ${SIZE_MB} MB"
docker run --rm --entrypoint sh "$IMAGE" -c 'for c in gcc cc g++ clang make; do command -v $c && exit 1; done; exit 0' \
  >/dev/null || fail "a compiler is left in the image"
docker run --rm --entrypoint /opt/mlsecops/bin/python "$IMAGE" -c \
  "import atheris, onnxruntime, safetensors, h5py, fickling, modelscan, pip_audit, pandas, sklearn, fairlearn, skops, fastparquet, xgboost, lightgbm, art.estimators.classification.blackbox; import mlsecops.stages.fuzz.stage, mlsecops.stages.assess.stage" \
  || fail "a runtime dependency does not import in the image"

ms() { "$PY" -c 'import time; print(int(time.time() * 1000))'; }
S0=$(ms); docker run --rm "$IMAGE" --version >"$WORK/version.txt"; VERSION_MS=$(( $(ms) - S0 ))
grep -q '^mlsecops ' "$WORK/version.txt" || fail "--version printed: $(cat "$WORK/version.txt")"

# --- 5. The demo repository as the runner's workspace (owned by the runner's uid 1001) ----------
"$PY" examples/make_demo_repo.py "$WORK/workspace" >/dev/null
git -C "$WORK/workspace" checkout -q demo-head
BASE_SHA=$(git -C "$WORK/workspace" rev-parse demo-base)
HEAD_SHA=$(git -C "$WORK/workspace" rev-parse demo-head)
chown -R 1001:1001 "$WORK/workspace"
mkdir -p "$WORK/runner"
cat >"$WORK/runner/event.json" <<EOF
{"number": 12, "pull_request": {"number": 12, "commits": 1,
  "base": {"sha": "$BASE_SHA", "ref": "main"}, "head": {"sha": "$HEAD_SHA", "ref": "pr/new-models"}},
 "repository": {"full_name": "octo/demo", "default_branch": "main"}}
EOF
: >"$WORK/runner/output"; : >"$WORK/runner/summary"
chown -R 1001:1001 "$WORK/runner"

# A local stand-in for the REST API (issue comments), reached through the host network.
cat >"$WORK/fake_api.py" <<'EOF'
import json, sys, time
sys.path.insert(0, sys.argv[1])
from action_support import ApiServer, FakeGitHub
state = FakeGitHub()
with ApiServer(state) as gh:
    open(sys.argv[2] + ".tmp", "w").write(gh.url)
    __import__("os").replace(sys.argv[2] + ".tmp", sys.argv[2])
    while True:
        with gh.lock:
            json.dump({"comments": gh.comments, "requests": gh.requests}, open(sys.argv[3] + ".tmp", "w"))
        __import__("os").replace(sys.argv[3] + ".tmp", sys.argv[3])
        time.sleep(0.2)
EOF
"$PY" "$WORK/fake_api.py" "$ROOT/tests/action" "$WORK/api-url" "$WORK/api-state.json" &
API_PID=$!
for _ in $(seq 1 50); do [ -s "$WORK/api-url" ] && break; sleep 0.1; done
API_URL=$(cat "$WORK/api-url")
TOKEN=ghs_e2eTOKEN0123456789abcdefghijklmnopqrstuv

# --- 6. The Action, as the runner starts it -----------------------------------------------------
run_action() {
  docker run --rm --network host --workdir /github/workspace \
    -v "$WORK/workspace:/github/workspace" -v "$WORK/runner:/github/file_commands" \
    -v "$WORK/runner/event.json:/github/workflow/event.json:ro" -v "$ROOT/examples/advisories:/advisories:ro" \
    -e GITHUB_ACTIONS=true -e CI=true -e HOME=/github/home \
    -e GITHUB_WORKSPACE=/github/workspace -e GITHUB_EVENT_NAME=pull_request \
    -e GITHUB_EVENT_PATH=/github/workflow/event.json -e GITHUB_REPOSITORY=octo/demo \
    -e GITHUB_API_URL="$API_URL" -e GITHUB_SERVER_URL=https://github.example -e GITHUB_RUN_ID=99 \
    -e GITHUB_WORKFLOW="mlsecops e2e" -e GITHUB_OUTPUT=/github/file_commands/output \
    -e GITHUB_STEP_SUMMARY=/github/file_commands/summary \
    -e INPUT_PATH=. -e INPUT_POLICY= -e INPUT_STAGES=deps,models,fuzz,assess -e INPUT_FUZZ-BUDGET=5 \
    -e INPUT_ADVISORY-DB=/advisories -e INPUT_SARIF-FILE=mlsecops.sarif -e INPUT_COMMENT=true \
    -e INPUT_GITHUB-TOKEN="$TOKEN" -e INPUT_BASE-REF= -e INPUT_HEAD-REF= \
    "$IMAGE"
}
S0=$(ms)
set +e; run_action >"$WORK/action.out" 2>"$WORK/action.err"; CODE=$?; set -e
ACTION_MS=$(( $(ms) - S0 ))
log "action run: exit $CODE in ${ACTION_MS} ms"
[ "$CODE" = 1 ] || { cat "$WORK/action.out" "$WORK/action.err" >&2; fail "expected exit 1 (planted problems), got $CODE"; }
set +e; run_action >"$WORK/action2.out" 2>"$WORK/action2.err"; CODE2=$?; set -e
[ "$CODE2" = 1 ] || fail "second run: exit $CODE2"
sleep 0.5

"$PY" - "$WORK" "$TOKEN" <<'EOF' || fail "checks on the Action run"
import json, os, sys
from pathlib import Path
work, token = Path(sys.argv[1]), sys.argv[2]
sys.path.insert(0, "tests/action")
from action_support import parse_outputs
outputs = parse_outputs((work / "runner/output").read_text())
assert outputs["verdict"] == "fail", outputs
assert int(outputs["blocking"]) >= 3 and int(outputs["findings"]) >= int(outputs["blocking"]), outputs
assert outputs["sarif-file"] == "mlsecops.sarif", outputs
sarif_path = work / "workspace/mlsecops.sarif"
assert sarif_path.stat().st_uid == 1001, "the report belongs to the runner's user (root was dropped)"
sarif = json.loads(sarif_path.read_text())
uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for run in sarif["runs"] for r in run["results"]}
for planted in ("models/classifier.pkl", "models/checkpoint.pt", "data/vocab.txt"):
    assert planted in uris, (planted, sorted(uris))
assert {run["automationDetails"]["id"] for run in sarif["runs"]} >= {"mlsecops/models/", "mlsecops/assess/"}
assess_run = next(run for run in sarif["runs"] if run["automationDetails"]["id"] == "mlsecops/assess/")
assert [r["ruleId"] for r in assess_run["results"]] == ["MLS403"], assess_run["results"]
import jsonschema
schema = Path("../shared/schemas/sarif-schema-2.1.0.json")
if schema.exists():
    doc = json.loads(schema.read_text())
    errors = list(jsonschema.validators.validator_for(doc)(doc).iter_errors(sarif))
    assert not errors, errors[0]
out = (work / "action.out").read_text()
assert out.splitlines()[0] == f"::add-mask::{token}"
assert "::error file=models/classifier.pkl" in out
summary = (work / "runner/summary").read_text()
assert "blocking" in summary and len(summary.encode()) < 1024 * 1024
state = json.loads((work / "api-state.json").read_text())
assert len(state["comments"]) == 1, "two runs, one comment"
assert [r["method"] for r in state["requests"]].count("PATCH") == 1
everything = "\n".join([out.replace(f"::add-mask::{token}", "", 1), (work / "action.err").read_text(),
                        (work / "action2.out").read_text().replace(f"::add-mask::{token}", "", 1),
                        (work / "action2.err").read_text(), summary, sarif_path.read_text(),
                        (work / "runner/output").read_text(), json.dumps(state["comments"])])
assert token not in everything, "the token leaked"
print(f"outputs {outputs}; {len(uris)} SARIF locations; 1 comment, updated once")
EOF

# --- 7. The CLI, as a user runs the image outside Actions (a folder owned by uid 1000) ------------
chown -R 1000:1000 "$WORK/workspace"
S0=$(ms)
set +e
docker run --rm -v "$WORK/workspace:/repo" -v "$ROOT/examples/advisories:/advisories:ro" "$IMAGE" \
  scan /repo --base demo-base --head demo-head --advisory-db /advisories --stages deps,models \
  --sarif /repo/cli.sarif --json /repo/cli.json -q >"$WORK/cli.out" 2>&1
CLI_CODE=$?
set -e
CLI_MS=$(( $(ms) - S0 ))
[ "$CLI_CODE" = 1 ] || { cat "$WORK/cli.out" >&2; fail "docker run ... scan: expected exit 1, got $CLI_CODE"; }
"$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['verdict']=='fail', d['verdict']" "$WORK/workspace/cli.json"
[ "$(stat -c %u "$WORK/workspace/cli.json")" = 1000 ] || fail "CLI reports should belong to the folder's owner (uid 1000)"

RESULT="image ${IMAGE} (base ${BASE_IMAGE}): ${SIZE_MB} MB, built in ${BUILD_S}s; cold start \`--version\` ${VERSION_MS} ms; \
Action run on the demo PR (deps+models+fuzz+assess, fuzz budget 5 s) ${ACTION_MS} ms; \`scan\` CLI (deps+models) ${CLI_MS} ms"
echo "$RESULT" | tee "$CACHE/last-result.txt"
log "docker e2e passed"
