#!/usr/bin/env bash
# bench/runtimes/run.sh: every table of bench/runtimes/README.md, one rig after another.
#
#   bash bench/runtimes/run.sh install     # apt-get every rig's packages (idempotent), with times
#   bash bench/runtimes/run.sh             # the measurements (about 70 minutes on 2 cores)
#
# Environment: ALL="gunicorn php-fpm puma jetty" (the rigs), SEEDS="1 2 3 4 5" (the holds' seeds),
# OUT=DIR (default: a temp folder, printed; one sub-folder per rig and mode), SIM=PATH (a built sim),
# HAZARD=PATH (a built bench/hazard, the stall watcher).
# For each rig: the mechanics checks, the uniform ramp (gunicorn twice: the repeated key figure),
# the split ramp, the dead-client check and the Poisson holds; then table.sh prints the table.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
rigs=${ALL:-gunicorn php-fpm puma jetty}
for r in $rigs; do
	[[ -f $here/$r/run.sh ]] || { echo "run.sh: ALL: unknown rig '$r' (allowed: gunicorn php-fpm puma jetty)" >&2; exit 2; }
done
if [[ ${1:-} == install ]]; then
	for r in $rigs; do
		t0=$SECONDS
		bash "$here/$r/run.sh" install
		echo "$r: install took $((SECONDS - t0)) s"
	done
	exit 0
fi
[[ -z ${1:-} ]] || { echo "usage: run.sh [install]" >&2; exit 2; }
OUT=${OUT:-$(mktemp -d /tmp/bench-runtimes.XXXXXX)}
if [[ -z ${SIM:-} ]]; then
	(cd "$root" && go build -o "$OUT/sim" ./cmd/sim)
	export SIM=$OUT/sim
fi
if [[ -z ${HAZARD:-} ]]; then
	(cd "$root" && go build -o "$OUT/hazard" ./bench/hazard)
	export HAZARD=$OUT/hazard
fi
echo "records: $OUT (sim: $SIM, tree $(git -C "$root" rev-parse --short HEAD))"
for r in $rigs; do
	runs=1
	[[ $r == gunicorn ]] && runs=2
	OUT=$OUT/$r-mech bash "$here/$r/run.sh" mechanics
	OUT=$OUT/$r-ramp bash "$here/$r/run.sh" ramp "$runs"
	RECOVERY=30s OUT=$OUT/$r-split bash "$here/$r/run.sh" split 1
	OUT=$OUT/$r-dead bash "$here/$r/run.sh" deadclients
	# shellcheck disable=SC2086
	OUT=$OUT/$r-hold bash "$here/$r/run.sh" hold ${SEEDS:-1 2 3 4 5}
done
bash "$here/table.sh" "$OUT"/*-ramp "$OUT"/*-split "$OUT"/*-hold
cat "$OUT"/*-dead/rows.jsonl
