#!/usr/bin/env bash
# End-to-end test of the Action the way GitHub runs it, from a clean clone of HEAD:
#
#  1. build the image the way from-source/action.yml has the runner build it (the Dockerfile
#     with the repository root as context), with the legacy builder (no BuildKit);
#  2. publish it the way the release workflow does, to a local registry standing in for GHCR:
#     tag it with action.yml's published name and version, push it, and pin the clone's
#     action.yml to the pushed digest with scripts/pin_action_image.py (the release step);
#  3. remove every local copy and pull action.yml's `runs.image` as the runner does in
#     "Set up job", then start the step: the runner's `docker run` (.ci/runner_run.py: inputs
#     from action.yml's defaults and the step's `with:`, event JSON, file commands, the Docker
#     socket, a workspace owned by the runner's uid) against a local stand-in for the REST API;
#  4. check exit code, outputs, SARIF (upload-ready locations), the PR comment, the token;
#  5. run the CLI with the container command from mlsecops/install.py, as a user would.
#
# Prints the image size, the pull and the step's start-to-verdict time.
#
#   bash .ci/docker-e2e.sh            (root or a working docker needed)
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
REGISTRY_PID=""
cleanup() {
  [ -n "$API_PID" ] && kill "$API_PID" 2>/dev/null || true
  [ -n "$REGISTRY_PID" ] && kill "$REGISTRY_PID" 2>/dev/null || true
  rm -rf "$WORK" 2>/dev/null || true
}
trap cleanup EXIT
T0=$(date +%s)
log() { printf '[docker-e2e %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
fail() { printf 'docker-e2e: FAIL: %s\n' "$*" >&2; exit 1; }
apt_install() {
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || return 1
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
# The project's virtualenv (make setup) runs the demo builder, the fake API and the checks.
[ -x "$ROOT/.venv/bin/python" ] || make setup >/dev/null
PY="$ROOT/.venv/bin/python"
ms() { "$PY" -c 'import time; print(int(time.time() * 1000))'; }

# --- 0. A clean clone of HEAD: only what is committed reaches the image ---------------------------
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  log "note: uncommitted changes are not tested (the image is built from a clone of HEAD)"
fi
git clone -q --no-local "$ROOT" "$WORK/clone"
CLONE=$WORK/clone
log "clean clone of $(git -C "$CLONE" rev-parse --short HEAD)"

# --- 1. A docker daemon -----------------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null 2>&1; then
    if apt_install docker.io; then
      log "installed docker.io"
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
        command -v mmdebstrap >/dev/null || apt_install mmdebstrap || fail "mmdebstrap is needed to build a base image"
        log "python:3.11-slim cannot be pulled: building a Debian bookworm base with mmdebstrap"
        # shellcheck disable=SC2016  # $1 is mmdebstrap's, expanded by its hook shell
        mmdebstrap "${BASE_OPTS[@]}" --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
          bookworm "${TARBALL%.tar}.part.tar" >"$WORK/mmdebstrap.log" 2>&1 || { tail -20 "$WORK/mmdebstrap.log" >&2; fail "mmdebstrap"; }
        mv "${TARBALL%.tar}.part.tar" "$TARBALL"
      fi
      docker import "$TARBALL" "$BASE_IMAGE" >/dev/null
    fi
  fi
fi
log "base image: $BASE_IMAGE"

# --- 3. Wheels from the host when PyPI is not reachable from a container ------------------------
if docker run --rm --network host --entrypoint "" "$BASE_IMAGE" python3 -c \
   "import urllib.request as u; u.urlopen('https://pypi.org/simple/pip/', timeout=15)" >/dev/null 2>&1; then
  log "PyPI is reachable from containers: the image installs from it"
else
  KEY=$(cat "$CLONE/pyproject.toml" "$CLONE/constraints.txt" | cksum | cut -d' ' -f1)
  WHEELS=$CACHE/wheels-$KEY
  if [ ! -f "$WHEELS/.complete" ]; then
    log "PyPI is not reachable from containers: downloading pinned wheels on the host"
    rm -rf "$WHEELS"; mkdir -p "$WHEELS"
    (cd "$CLONE" && "$PY" - >"$WORK/requirements.txt") <<'EOF'
import tomllib
p = tomllib.load(open("pyproject.toml", "rb"))["project"]
print("\n".join(p["dependencies"] + p["optional-dependencies"]["fuzz"] + p["optional-dependencies"]["assess"]))
EOF
    "$PY" -m pip download -q --disable-pip-version-check -d "$WHEELS" --only-binary=:all: \
      --python-version 3.11 --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 --platform manylinux_2_27_x86_64 --platform linux_x86_64 \
      -c "$CLONE/constraints.txt" -r "$WORK/requirements.txt" "setuptools>=65" 2>&1 | grep -v "is ignored" || true
    ls "$WHEELS"/*.whl >/dev/null 2>&1 || fail "no wheels downloaded"
    touch "$WHEELS/.complete"
  fi
  mkdir -p "$CLONE/wheels"
  cp "$WHEELS"/*.whl "$CLONE/wheels/"
fi

# --- 4. Build as from-source/action.yml has the runner build it, with the legacy builder ---------
# The runner: docker build -t TAG -f <action dir>/<runs.image> <the folder holding the Dockerfile>.
SOURCE_IMAGE=$("$PY" -c "import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))['runs']['image'])" "$CLONE/from-source/action.yml")
DOCKERFILE=$CLONE/from-source/$SOURCE_IMAGE
BUILT=mlsecops:e2e
B0=$(date +%s)
DOCKER_BUILDKIT=0 docker build -q --network host --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$BUILT" \
  -f "$DOCKERFILE" "$(dirname "$(realpath "$DOCKERFILE")")" >"$WORK/build.log" 2>&1 \
  || { tail -40 "$WORK/build.log" >&2; fail "docker build (legacy builder)"; }
BUILD_S=$(( $(date +%s) - B0 ))
docker image prune -f --filter "label=org.opencontainers.image.title=mlsecops" >/dev/null 2>&1 || true
SIZE_MB=$(( $(docker image inspect -f '{{.Size}}' "$BUILT") / 1000000 ))
BASE_MB=$(( $(docker image inspect -f '{{.Size}}' "$BASE_IMAGE") / 1000000 ))
log "built $BUILT with the legacy builder in ${BUILD_S}s: ${SIZE_MB} MB (base ${BASE_MB} MB)"
docker run --rm --entrypoint sh "$BUILT" -c 'for c in gcc cc g++ clang make; do command -v $c && exit 1; done; exit 0' >/dev/null \
  || fail "a compiler is left in the image"
docker run --rm --entrypoint /opt/mlsecops/bin/python "$BUILT" -c \
  "import atheris, onnx, onnx.checker, onnxruntime, safetensors, h5py, fickling, modelscan, pip_audit, numpy, pandas, sklearn, fairlearn, skops, fastparquet, xgboost, lightgbm, art.estimators.classification.blackbox; import mlsecops.stages.fuzz.stage, mlsecops.stages.assess.stage, mlsecops.reporters.line_hash as h; assert h.line_hashes(b'a\n')" \
  || fail "a runtime dependency does not import in the image"

# --- 5. Publish as the release workflow does, to a local registry standing in for GHCR ----------
PINNED=$("$PY" "$CLONE/scripts/pin_action_image.py" "$CLONE/action.yml" --check) || fail "action.yml is not pinned"
REF=${PINNED#*: docker://}; REF=${REF%% *}           # ghcr.io/mlsecops/mlsecops:v0.1.0@sha256:...
PUBLISHED=${REF%@*}                                  # ghcr.io/mlsecops/mlsecops:v0.1.0
TAG=${PUBLISHED##*:}
[ "$TAG" = "v$("$PY" -c 'import mlsecops; print(mlsecops.__version__)')" ] || fail "action.yml runs $TAG, not this version"
docker tag "$BUILT" "$PUBLISHED"
if ! command -v docker-registry >/dev/null 2>&1; then
  apt_install docker-registry || fail "docker-registry (Debian's distribution registry) is needed for the pull-by-digest test"
fi
PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$WORK/registry.yml" <<EOF
version: 0.1
storage: {filesystem: {rootdirectory: $WORK/registry}}
http: {addr: 127.0.0.1:$PORT}
log: {level: error}
EOF
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
REGISTRY_PID=$!
"$PY" - "$PORT" <<'EOF' || { cat "$WORK/registry.log" >&2; fail "the local registry did not start"; }
import sys, time, urllib.request
for _ in range(100):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/v2/", timeout=2)
        break
    except OSError:
        time.sleep(0.1)
else:
    raise SystemExit(1)
EOF
MIRROR=127.0.0.1:$PORT/${PUBLISHED#*/}               # 127.0.0.1:PORT/mlsecops/mlsecops:v0.1.0
docker tag "$BUILT" "$MIRROR"
docker push -q "$MIRROR" >"$WORK/push.log" 2>&1 || { cat "$WORK/push.log" "$WORK/registry.log" >&2; fail "docker push"; }
DIGEST=$(docker image inspect -f '{{range .RepoDigests}}{{println .}}{{end}}' "$MIRROR" | grep "^${MIRROR%:*}@" | head -1)
DIGEST=${DIGEST#*@}
[ -n "$DIGEST" ] || fail "no digest after the push"
# The release step, as in .github/workflows/release.yml, with the mirror's name for ghcr.io's.
python3 "$CLONE/scripts/pin_action_image.py" "$CLONE/action.yml" --image "${MIRROR%:*}" --tag "$TAG" --digest "$DIGEST" >/dev/null
PULL_REF=$("$PY" "$CLONE/scripts/pin_action_image.py" "$CLONE/action.yml" --check --tag "$TAG") || fail "pinned action.yml does not check"
PULL_REF=${PULL_REF#*: docker://}
log "published $PUBLISHED as $MIRROR@$DIGEST; action.yml now runs docker://$PULL_REF"

# --- 6. The runner: pull runs.image in "Set up job", then the step's docker run ------------------
IMAGE_ID=$(docker image inspect -f '{{.Id}}' "$BUILT")
docker rmi -f "$IMAGE_ID" >/dev/null   # every tag of it: the pull must fetch it from the registry
docker image inspect "$IMAGE_ID" >/dev/null 2>&1 && fail "a local copy of the image is left before the pull"
S0=$(ms)
docker pull -q "$PULL_REF" >"$WORK/pull.log" 2>&1 || { cat "$WORK/pull.log" >&2; fail "docker pull $PULL_REF (as the runner pulls runs.image)"; }
PULL_MS=$(( $(ms) - S0 ))
PUSHED_MB=$(( $(du -sk "$WORK/registry" | cut -f1) / 1024 ))   # what a runner downloads: compressed layers
IMAGE=$PULL_REF
[ "$(docker image inspect -f '{{.Id}}' "$IMAGE")" = "$IMAGE_ID" ] || fail "the pulled image is not the one built"
docker tag "$IMAGE_ID" "$BUILT"   # for tests/action/test_docker_image.py
log "pulled by digest in ${PULL_MS} ms"

S0=$(ms); docker run --rm "$IMAGE" --version >"$WORK/version.txt"; VERSION_MS=$(( $(ms) - S0 ))
grep -q '^mlsecops ' "$WORK/version.txt" || fail "--version printed: $(cat "$WORK/version.txt")"

# The demo repository as the runner's workspace (owned by the runner's uid 1001)
"$PY" "$CLONE/examples/make_demo_repo.py" "$WORK/workspace" >/dev/null
git -C "$WORK/workspace" checkout -q demo-head
BASE_SHA=$(git -C "$WORK/workspace" rev-parse demo-base)
HEAD_SHA=$(git -C "$WORK/workspace" rev-parse demo-head)
cp -r "$CLONE/examples/advisories" "$WORK/workspace-advisories"
mkdir -p "$WORK/runner/home"
cat >"$WORK/runner/event.json" <<EOF
{"number": 12, "pull_request": {"number": 12, "commits": 1,
  "base": {"sha": "$BASE_SHA", "ref": "main"}, "head": {"sha": "$HEAD_SHA", "ref": "pr/new-models"}},
 "repository": {"full_name": "octo/demo", "default_branch": "main"}}
EOF
: >"$WORK/runner/output"; : >"$WORK/runner/summary"
chown -R 1001:1001 "$WORK/workspace" "$WORK/runner"

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
"$PY" "$WORK/fake_api.py" "$CLONE/tests/action" "$WORK/api-url" "$WORK/api-state.json" &
API_PID=$!
for _ in $(seq 1 50); do [ -s "$WORK/api-url" ] && break; sleep 0.1; done
API_URL=$(cat "$WORK/api-url")
TOKEN=ghs_e2eTOKEN0123456789abcdefghijklmnopqrstuv

# The step of examples/workflows/mlsecops-pr.yml, with a short fuzz budget and offline advisories.
mapfile -d '' RUN_ARGS < <("$PY" "$CLONE/.ci/runner_run.py" "$CLONE/action.yml" --image "$IMAGE" \
  --workspace "$WORK/workspace" --runner "$WORK/runner" --token "$TOKEN" \
  --env GITHUB_EVENT_NAME=pull_request --env GITHUB_REPOSITORY=octo/demo --env GITHUB_API_URL="$API_URL" \
  --env GITHUB_SERVER_URL=https://github.example --env GITHUB_RUN_ID=99 --env "GITHUB_WORKFLOW=mlsecops e2e" \
  --with fuzz-budget=5 --with advisory-db=.mlsecops-e2e-advisories)
cp -r "$WORK/workspace-advisories" "$WORK/workspace/.mlsecops-e2e-advisories"
chown -R 1001:1001 "$WORK/workspace/.mlsecops-e2e-advisories"
S0=$(ms)
set +e; docker "${RUN_ARGS[@]}" >"$WORK/action.out" 2>"$WORK/action.err"; CODE=$?; set -e
ACTION_MS=$(( $(ms) - S0 ))
log "the step, start to verdict: exit $CODE in ${ACTION_MS} ms"
[ "$CODE" = 1 ] || { cat "$WORK/action.out" "$WORK/action.err" >&2; fail "expected exit 1 (planted problems), got $CODE"; }
set +e; docker "${RUN_ARGS[@]}" >"$WORK/action2.out" 2>"$WORK/action2.err"; CODE2=$?; set -e
[ "$CODE2" = 1 ] || fail "second run: exit $CODE2"
sleep 0.5

"$PY" - "$WORK" "$TOKEN" "$CLONE" <<'EOF' || fail "checks on the Action run"
import json, sys
from pathlib import Path
work, token, clone = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
sys.path.insert(0, str(clone / "tests/action"))
from action_support import parse_outputs
from mlsecops.reporters.line_hash import line_hashes
outputs = parse_outputs((work / "runner/output").read_text())
assert outputs["verdict"] == "fail", outputs
assert int(outputs["blocking"]) >= 3 and int(outputs["findings"]) >= int(outputs["blocking"]), outputs
assert outputs["sarif-file"] == "mlsecops.sarif", outputs
sarif_path = work / "workspace/mlsecops.sarif"
assert sarif_path.stat().st_uid == 1001, "the report belongs to the runner's user (root was dropped)"
sarif = json.loads(sarif_path.read_text())
results = [r for run in sarif["runs"] for r in run["results"]]
uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
for planted in ("models/classifier.pkl", "models/checkpoint.pt", "data/vocab.txt"):
    assert planted in uris, (planted, sorted(uris))
assert {run["automationDetails"]["id"] for run in sarif["runs"]} >= {"mlsecops/models/", "mlsecops/deps/", "mlsecops/assess/"}
assess_run = next(run for run in sarif["runs"] if run["automationDetails"]["id"] == "mlsecops/assess/")
assert [r["ruleId"] for r in assess_run["results"]] == ["MLS403"], assess_run["results"]
# upload-ready: model files carry no line (upload-sarif never reads them); the requirements lines
# carry the primaryLocationLineHash upload-sarif computes from the checked-out file
for r in results:
    loc = r["locations"][0]["physicalLocation"]
    path = work / "workspace" / loc["artifactLocation"]["uri"]
    if loc["artifactLocation"]["uri"].startswith("models/"):
        assert "region" not in loc, loc
    if loc["artifactLocation"]["uri"] == "requirements.txt":
        assert r["partialFingerprints"]["primaryLocationLineHash"] == line_hashes(path.read_bytes())[loc["region"]["startLine"] - 1]
assert all(i["executionSuccessful"] for run in sarif["runs"] for i in run["invocations"])
import jsonschema
schema = clone.parent.parent / "shared/schemas/sarif-schema-2.1.0.json"
for candidate in (Path("../shared/schemas/sarif-schema-2.1.0.json"), schema):
    if candidate.exists():
        doc = json.loads(candidate.read_text())
        errors = list(jsonschema.validators.validator_for(doc)(doc).iter_errors(sarif))
        assert not errors, errors[0]
        break
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

# --- 7. The CLI, with the container command install.py gives people (a folder owned by uid 1000) --
chown -R 1000:1000 "$WORK/workspace"
CLI_CMD=$(cd "$CLONE" && "$PY" - "$IMAGE" <<'EOF'
import sys
from mlsecops import install
(cmd,) = install.for_version().container(["scan", ".", "--base", "demo-base", "--head", "demo-head", "--advisory-db",
                                           ".mlsecops-e2e-advisories", "--stages", "deps,models", "--json", "cli.json", "-q"])
published = install.for_version().image
assert published in cmd, cmd
print(cmd.replace(published, sys.argv[1]))
EOF
)
S0=$(ms)
set +e
(cd "$WORK/workspace" && bash -c "$CLI_CMD") >"$WORK/cli.out" 2>&1
CLI_CODE=$?
set -e
CLI_MS=$(( $(ms) - S0 ))
[ "$CLI_CODE" = 1 ] || { echo "$CLI_CMD" >&2; cat "$WORK/cli.out" >&2; fail "the documented container command: expected exit 1, got $CLI_CODE"; }
"$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['verdict']=='fail', d['verdict']" "$WORK/workspace/cli.json"
[ "$(stat -c %u "$WORK/workspace/cli.json")" = 1000 ] || fail "CLI reports should belong to the folder's owner (uid 1000)"

RESULT="image ${PULL_REF} (base ${BASE_IMAGE}, ${BASE_MB} MB): ${SIZE_MB} MB, built with the legacy builder in ${BUILD_S}s; \
${PUSHED_MB} MB compressed in the registry, pulled by digest from a local registry in ${PULL_MS} ms; cold start \`--version\` ${VERSION_MS} ms; \
the Action's step on the demo PR, start to verdict (deps+models+fuzz, fuzz budget 5 s) ${ACTION_MS} ms; \
\`docker run ... scan\` as install.py documents it (deps+models) ${CLI_MS} ms"
echo "$RESULT" | tee "$CACHE/last-result.txt"
log "docker e2e passed"
