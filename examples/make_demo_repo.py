"""Build the demo repository: a git repo with a base commit and a pull-request head
commit that plants the problems mlsecops exists to catch.

    python examples/make_demo_repo.py examples/demo-repo

demo-base: a small ML project with a benign model and pinned requirements, and a
credit-approval classifier (ONNX) with its evaluation data (a CSV with a
sensitive column, `sex`) declared in the policy's `assess` section.
demo-head: the "pull request": a malicious pickle, a booby-trapped PyTorch
checkpoint, a pickle disguised as a text file, a benign safetensors model,
requirements pinned at versions with known advisories, and a retrained credit
model with about the same accuracy that leans on age, a proxy for sex: its
demographic-parity difference breaks the policy's bound (MLS403). Every payload
only echoes; no pickle is ever loaded. Re-running rebuilds the repository from scratch.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlsecops import fixtures  # noqa: E402
from mlsecops.stages.assess import fixtures as assess_fixtures  # noqa: E402

BASE_REQUIREMENTS = """\
# Runtime dependencies of the demo model service
numpy==1.26.4
safetensors==0.4.3
"""

HEAD_REQUIREMENTS = """\
# Runtime dependencies of the demo model service
numpy==1.16.0         # pinned back "for compatibility"
safetensors==0.4.3
jinja2==2.10          # templates for the report page
pyyaml==5.3           # config loading
requests==2.19.0
torch==1.13.0
tqdm>=4.60            # unpinned: reported, never resolved
"""

POLICY = """\
# The demo's policy: the shipped defaults, plus the credit model's assessment.
version: 1
""" + assess_fixtures.POLICY

README = """\
# demo model service

A toy repository for the mlsecops demo. The `demo-head` commit is a pull request
that adds models and dependencies with planted problems.
"""

ENV = {
    "GIT_AUTHOR_NAME": "mlsecops demo",
    "GIT_AUTHOR_EMAIL": "demo@example.invalid",
    "GIT_COMMITTER_NAME": "mlsecops demo",
    "GIT_COMMITTER_EMAIL": "demo@example.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T12:00:00Z",
    "GIT_COMMITTER_DATE": "2026-01-01T12:00:00Z",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, env={**os.environ, **ENV}, capture_output=True)


def write(repo: Path, rel: str, data: bytes | str) -> None:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def build(repo: Path) -> None:
    if repo.exists():
        shutil.rmtree(repo)
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    write(repo, "README.md", README)
    write(repo, "requirements.txt", BASE_REQUIREMENTS)
    write(repo, "models/baseline.safetensors", fixtures.safetensors_file({"linear.weight": 8, "linear.bias": 2}))
    write(repo, "models/embeddings.npy", fixtures.npy_file([0.1 * k for k in range(16)]))
    write(repo, "tokenizer/tokenizer_config.json", fixtures.chat_template_config(fixtures.BENIGN_CHAT_TEMPLATE))
    credit = assess_fixtures.CreditData()
    write(repo, "models/credit.onnx", credit.model(*assess_fixtures.FAIR))
    write(repo, "data/eval.csv", credit.csv())
    write(repo, ".mlsecops.yml", POLICY)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Baseline model service")
    git(repo, "tag", "demo-base")

    git(repo, "checkout", "-q", "-b", "pr/new-models")
    write(repo, "requirements.txt", HEAD_REQUIREMENTS)
    write(repo, "models/classifier.pkl", fixtures.malicious_pickle())
    write(repo, "models/checkpoint.pt", fixtures.booby_trapped_torch_zip())
    write(repo, "models/encoder.safetensors", fixtures.safetensors_file({"encoder.weight": 64, "encoder.bias": 8}))
    write(repo, "data/vocab.txt", fixtures.malicious_pickle(module="subprocess", name="getoutput"))
    write(repo, "models/credit.onnx", credit.model(*assess_fixtures.UNFAIR))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Add new classifier, checkpoint and dependencies")
    git(repo, "tag", "demo-head")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    repo = Path(argv[1])
    build(repo)
    print(f"demo repository ready at {repo} (tags demo-base, demo-head)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
