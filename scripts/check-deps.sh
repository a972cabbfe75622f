#!/usr/bin/env bash
# Checks the dataplane's include rules (CI runs it from .ci/run):
#  1. dataplane/ includes no admin-plane library: gRPC, protobuf, absl,
#     httplib, prometheus, yaml-cpp.
#  2. Each dataplane folder includes only the folders below it in the graph
#     that dataplane/CMakeLists.txt links (base <- event <- net <- ... <-
#     dataplane.h). A grep for "dataplane/<folder>/" includes is enough: the
#     repository root is the only include path.
# Prints every offending line and exits 1 when there is one.
set -euo pipefail
cd "$(dirname "$0")/.."

status=0

if grep -rnE '#include *[<"](grpc|grpcpp|google/protobuf|absl|httplib|prometheus|yaml-cpp)' dataplane; then
  echo "dataplane/ must not include gRPC, protobuf, absl, httplib, prometheus or yaml-cpp headers" >&2
  status=1
fi

# The allowed graph: folder -> the folders it may include. "views" is
# dataplane/status_views.h (what the facade returns, filled by the engines);
# "top" is the rest of dataplane/*.h (the facade itself), which only files at
# the top level include. A folder may always include itself.
declare -A allowed=(
  [base]=""
  [kernel]=""
  [event]="base"
  [notify]="base"
  [net]="base"
  [config]="base net"
  [resource]="base net config"
  [log]="base net config"
  [affinity]="base net"
  [maglev]="base net"
  [registry]="base net config affinity maglev"
  [balancer]="base net config affinity maglev registry"
  [health]="base event net config maglev registry resource"
  [service]="base event net config affinity maglev registry"
  [views]="base net config affinity maglev registry service resource"
  [tcp]="base event net config affinity maglev registry balancer service views resource log kernel"
  [udp]="base event net config affinity maglev registry balancer service views resource log"
  [dsr]="base net config affinity maglev registry balancer service views resource"
  [top]="base event notify net config resource log affinity maglev registry balancer health service views tcp udp dsr kernel top"
)

# The folder (or views / top) a file or an include target belongs to.
part_of() {
  local rel=${1#dataplane/}
  case "$rel" in
    status_views.h) echo views ;;
    balancer/maglev.h | balancer/maglev.cc) echo maglev ;;  # its own library, below the registry
    */*) echo "${rel%%/*}" ;;
    *) echo top ;;
  esac
}

while IFS= read -r file; do
  from=$(part_of "$file")
  if [ -z "${allowed[$from]+set}" ]; then
    echo "$file: folder '$from' is not in the graph of scripts/check-deps.sh; add it there and to dataplane/CMakeLists.txt" >&2
    status=1
    continue
  fi
  while IFS= read -r line; do
    target=$(sed -E 's/^[0-9]+:#include *"([^"]+)".*/\1/' <<<"${line}")
    to=$(part_of "$target")
    [ "$to" = "$from" ] && continue
    if [[ " ${allowed[$from]} " != *" $to "* ]]; then
      echo "$file:${line%%:*}: $from must not include $target ($from may include: ${allowed[$from]:-nothing})" >&2
      status=1
    fi
  done < <(grep -nE '^#include *"dataplane/' "$file" || true)
done < <(find dataplane -name '*.h' -o -name '*.cc' | sort)

if [ "$status" = 0 ]; then
  echo "check-deps: dataplane includes follow the graph"
fi
exit "$status"
