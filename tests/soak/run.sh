#!/usr/bin/env bash
# Chaos soak (issue 17): nib in front of echo backends that are killed and
# restarted at random, drains, weight changes, adds and removes through REST
# and gRPC (nibctl), SIGHUP every few seconds, clients checking every byte.
# Reports corrupted bytes (must be 0), failed connections (those whose backend
# was killed counted apart; any other fails the run) and nib's RSS and
# descriptors over time; fails if descriptors outlive the load. See soak.py
# for the details.
#   tests/soak/run.sh                   10 minutes
#   SOAK_SECONDS=60 tests/soak/run.sh   what CI runs
# NIB / NIBCTL: the binaries (default build/server/nib, build/server/nibctl);
# extra arguments go to soak.py (--clients, --seed, ...).
set -euo pipefail
cd "$(dirname "$0")/../.."
nib="${NIB:-build/server/nib}"
nibctl="${NIBCTL:-build/server/nibctl}"
for b in "$nib" "$nibctl"; do
  [ -x "$b" ] || { echo "soak: $b not built (scripts/build.sh)" >&2; exit 1; }
done
# Debian's interpreter (the first python3 on PATH may be another build); the
# driver needs only the standard library.
py=/usr/bin/python3
[ -x "$py" ] || py=python3
"$py" tests/soak/soak.py --nib "$nib" --nibctl "$nibctl" --seconds "${SOAK_SECONDS:-600}" "$@" &
driver=$!
# The driver stops nib and its backends on SIGTERM; the backends also die
# with it (PR_SET_PDEATHSIG) if it is killed outright.
trap 'kill -TERM "$driver" 2>/dev/null || true; wait "$driver" 2>/dev/null || true' INT TERM
trap 'kill -TERM "$driver" 2>/dev/null || true' EXIT
wait "$driver"
