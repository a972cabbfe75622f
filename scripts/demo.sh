#!/usr/bin/env bash
# Installs dependencies, builds nib and runs it on its embedded default: two
# small demo HTTP backends and nib in front of them on 127.0.0.1:8080.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec build/server/nib --demo
