# The mlsecops container: the GitHub Action (the release image that action.yml runs, or this file
# built by from-source/action.yml) and a plain CLI image.
#
#   docker build -t mlsecops .
#   docker run --rm -v "$PWD:/src" -w /src mlsecops scan .
#
# Build arguments:
#   BASE_IMAGE   any Debian-like image with Python 3.11+ (default: the public python:3.11-slim);
#                git is installed with apt when the base has none.
#   EXTRAS       the package's optional dependency groups to install (default: fuzz,assess: the safe
#                loaders the fuzz stage drives and the assess stage's runtimes and metric
#                libraries; empty for a smaller image without them).
#   TORCH_SPEC   e.g. "torch==2.13.0" to add PyTorch (CPU wheels from TORCH_INDEX_URL) for the
#                fuzz stage's weights_only loader. Left out by default: it is several hundred MB.
# Every Python package is pinned by constraints.txt and installed from binary wheels only, so
# no compiler is needed or left behind. A build without network access to PyPI can put the
# wheels in ./wheels/ (see .ci/docker-e2e.sh): they are then the only source.
# Plain Dockerfile syntax only: it builds with BuildKit and with the legacy builder alike.
ARG BASE_IMAGE=python:3.11-slim

# The optional ./wheels folder, made to exist: COPY of a folder that may be missing needs
# BuildKit (a glob), so this stage copies the whitelisted context and creates it.
FROM ${BASE_IMAGE} AS context
COPY . /context
RUN mkdir -p /context/wheels

FROM ${BASE_IMAGE} AS build
ARG EXTRAS=fuzz,assess
ARG TORCH_SPEC=""
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY pyproject.toml constraints.txt ./
COPY --from=context /context/wheels ./wheels
# Dependencies first (a layer that survives code changes), read from pyproject.toml.
RUN set -eu; \
    python3 -m venv /opt/mlsecops; \
    python3 -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
extras = [e for e in '${EXTRAS}'.split(',') if e.strip()]; \
print('\n'.join(p['dependencies'] + [d for e in extras for d in p['optional-dependencies'][e.strip()]]))" \
      > /tmp/requirements.txt; \
    if ls wheels/*.whl >/dev/null 2>&1; then set -- --no-index --find-links /src/wheels; else set --; fi; \
    /opt/mlsecops/bin/pip install --only-binary=:all: "$@" -c constraints.txt -r /tmp/requirements.txt; \
    if [ -n "${TORCH_SPEC}" ]; then \
      /opt/mlsecops/bin/pip install --only-binary=:all: --index-url "${TORCH_INDEX_URL}" -c constraints.txt "${TORCH_SPEC}"; \
    fi
COPY README.md ./
COPY mlsecops ./mlsecops
RUN set -eu; \
    if ls wheels/*.whl >/dev/null 2>&1; then set -- --no-index --find-links /src/wheels; else set --; fi; \
    /opt/mlsecops/bin/pip install --no-deps "$@" /src; \
    site=$(echo /opt/mlsecops/lib/python3*/site-packages); \
    # What the scan never runs. Test suites; setuptools (only the install above needed it);
    # atheris' static library, sanitizer runtimes, libFuzzer mock and the core it loads only when
    # a sanitizer has preloaded libFuzzer (the fuzz sandbox preloads none); onnx's backend test
    # data and onnxruntime's model-conversion tools; headers, stubs and Cython sources.
    # numpy.testing, which scipy and scikit-learn import, needs numpy/_core/tests/_natype.py: it stays.
    find "$site" -depth -type d \( -name tests -o -name __pycache__ \) -not -path '*/numpy/_core/tests' -exec rm -rf {} +; \
    find "$site"/numpy/_core/tests -type f ! -name _natype.py -delete 2>/dev/null || true; \
    rm -rf "$site"/onnx/backend/test "$site"/onnxruntime/transformers "$site"/onnxruntime/quantization \
           "$site"/numpy/_core/include "$site"/numpy/f2py "$site"/atheris/mock_libfuzzer \
           "$site"/atheris/*_test.py "$site"/atheris/core_without_libfuzzer.*.so \
           "$site"/libclang_rt.fuzzer_no_main.a "$site"/*san*_with_fuzzer.so \
           "$site"/setuptools "$site"/setuptools-*.dist-info "$site"/pkg_resources "$site"/_distutils_hack \
           "$site"/distutils-precedence.pth; \
    find "$site" \( -name '*.pyi' -o -name '*.pxd' -o -name '*.h' -o -name '*.c' -o -name '*.pyc' \) -delete; \
    # Debug information in extension modules (atheris ships about 45 MB of it) goes where this
    # stage has binutils or can install it; the final stage never gets binutils. Libraries that
    # auditwheel rewrote (vendored in *.libs, or with an RPATH) are left alone: strip breaks them.
    if command -v strip >/dev/null 2>&1 || \
       { apt-get update -qq && apt-get install -y -qq --no-install-recommends binutils; } >/dev/null 2>&1; then \
      find /opt/mlsecops -type f -name '*.so*' -not -path '*.libs/*' | while read -r lib; do \
        if readelf -S "$lib" | grep -q '[.]debug_info' && ! readelf -d "$lib" | grep -q -e RPATH -e RUNPATH; then \
          strip --strip-debug "$lib"; \
        fi; \
      done; \
    else \
      echo "no strip in the build stage: shared libraries keep their debug information"; \
    fi; \
    # Precompile: the scan runs as a user who cannot write __pycache__ here, and it starts faster.
    /opt/mlsecops/bin/python -m compileall -q -j 0 /opt/mlsecops/lib

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="mlsecops" \
      org.opencontainers.image.description="Security gate for ML repositories: dependency audit, model scanning, fuzzing" \
      org.opencontainers.image.source="https://github.com/mlsecops/mlsecops" \
      org.opencontainers.image.licenses="Apache-2.0"
# git reads the diff; libgomp1 is the OpenMP runtime LightGBM's wheel expects from the system (the
# assess stage); the scan never needs a compiler, a shell tool or a package manager at run time.
RUN set -eu; \
    if ! command -v git >/dev/null 2>&1 || ! ldconfig -p | grep -q 'libgomp\.so\.1'; then \
      apt-get update; \
      apt-get install -y --no-install-recommends git ca-certificates libgomp1; \
      rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb; \
    fi; \
    groupadd --system --gid 10001 mlsecops; \
    useradd --system --uid 10001 --gid 10001 --home-dir /home/mlsecops --create-home --shell /usr/sbin/nologin mlsecops
COPY --from=build /opt/mlsecops /opt/mlsecops
COPY entrypoint.py /opt/mlsecops/entrypoint.py
ENV PATH=/opt/mlsecops/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MLSECOPS_CONTAINER=1
# The Action needs root at start (GitHub's rule for container actions: the runner's files belong
# to its own user); entrypoint.py then drops to the uid that owns the workspace (the runner's user,
# or your own with `docker run -v "$PWD:/src" -w /src`) with no supplementary groups, see
# mlsecops/action/privileges.py. The runner replaces WORKDIR with the workspace.
WORKDIR /src
ENTRYPOINT ["/opt/mlsecops/bin/python", "/opt/mlsecops/entrypoint.py"]
