#!/usr/bin/env bash
# bench/topologies/run.sh: every topology on the same profile, in the virtual-time model and on
# real sockets, side by side (issue 11: "a topology is not done until both engines run it").
#
#   bash bench/topologies/run.sh [PROFILE]      # default quick; prints a markdown table
#
# The model's comparison takes well under a second, the sockets' about five minutes on quick.
# Folders go to a temp dir (KEEP=1 keeps it); SIM=path uses a sim binary instead of building.
set -euo pipefail
cd "$(dirname "$0")/../.."
profile=${1:-quick}
tmp=$(mktemp -d)
trap '[ "${KEEP:-}" = 1 ] && echo "kept $tmp" >&2 || rm -rf "$tmp"' EXIT
sim=${SIM:-$tmp/sim}
[ -n "${SIM:-}" ] || go build -o "$sim" ./cmd/sim
go build -o "$tmp/table" ./bench/topologies
"$sim" compare --topologies all --engine model --profile "$profile" --out "$tmp/model" >/dev/null
start=$(date +%s)
"$sim" compare --topologies all --profile "$profile" --out "$tmp/sockets" >/dev/null
echo "sockets: $(( $(date +%s) - start )) s wall for all topologies on $profile" >&2
"$tmp/table" -model "$tmp"/model/*-compare -sockets "$tmp"/sockets/*-compare
