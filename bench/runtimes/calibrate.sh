#!/usr/bin/env bash
# bench/runtimes/calibrate.sh: sim's runtimes beside the real ones (issue 17 item 3).
#
# For each runtime, sim (--runtime R, on both engines) runs what its real rig ran, with the
# rig's pool (16 workers x 200 ms of work): the uniform ramp (ramp.yaml: 10->120 rps over 20 s,
# 120 s of recovery probes), the split variant (30 s of probes), and the steady Poisson holds
# (hold.yaml: 30 rps for up to 180 s, --stop-on-hang) on the rigs' seeds. Then
# bench/runtimes/calib prints the tables: the real runtime's figures (bench/runtimes/data/rigs:
# the rows and census of the rig runs quoted in bench/runtimes/README.md) beside sockets and
# model, each target of the issue checked.
#
#   bash bench/runtimes/calibrate.sh                  # everything: ~2 min of model, ~35 of sockets
#   ENGINES=model bash bench/runtimes/calibrate.sh    # the model only (seconds)
#   RUNTIMES="gunicorn puma" SEEDS="1 4" MODES="ramp hold" bash bench/runtimes/calibrate.sh
#
# Environment: OUT (records; default a temp folder, kept and printed), SIM (a built sim; default
# built from this tree), ENGINES (model sockets), RUNTIMES (gunicorn php-fpm puma jetty),
# MODES (ramp split hold), SEEDS (1 2 3 4 5). Socket runs go one at a time; each is a `sim run`
# that starts and stops its own server (fresh loopback ports).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$(mktemp -d /tmp/runtimes-calib.XXXXXX)}
ENGINES=${ENGINES:-"model sockets"}
RUNTIMES=${RUNTIMES:-"gunicorn php-fpm puma jetty"}
MODES=${MODES:-"ramp split hold"}
SEEDS=${SEEDS:-"1 2 3 4 5"}
mkdir -p "$OUT/profiles"
sim=${SIM:-$OUT/sim}
[ -n "${SIM:-}" ] || go build -o "$sim" ./cmd/sim
go build -o "$OUT/calib" ./bench/runtimes/calib

# The rigs' pool, as each rig configured its runtime (bench/runtimes/README.md, "The rigs"):
# 16 workers everywhere; PHP-FPM's calibration rig is pm = static (Debian's dynamic pool is
# another mechanic: see the README).
server="server: {max_threads: 16, work_time: 200ms}"
# PHP-FPM's rig ran pm = static with 16 children: a dynamic pool that starts with all of them
# and keeps them (the runtime's default is Debian's pm = dynamic from 2).
static16=", pool_start_workers: 16, pool_max_spare: 16"
{ grep -v '^#' bench/runtimes/ramp.yaml; echo "$server"; } >"$OUT/profiles/ramp.yaml"
sed 's/duration: 120s # recovery/duration: 30s/' "$OUT/profiles/ramp.yaml" >"$OUT/profiles/split.yaml"
for seed in $SEEDS; do
	{ grep -v '^#' bench/runtimes/hold.yaml | sed "s/^seed: .*/seed: $seed/"; echo "$server"; } >"$OUT/profiles/hold-s$seed.yaml"
done
# The holds again with each rig's measured page times instead of a fixed 200 ms: start to end
# of every page of seed 4's hold (pages.log: the sleep and the self-call), whose median is
# 201-203 ms and whose 99th percentile is gunicorn 216, PHP-FPM 217, Puma 214, Jetty 238 ms
# (bench/runtimes/README.md): a lognormal with median 200 ms and that p99. Model only unless
# TAIL_ENGINES says otherwise.
TAIL_ENGINES=${TAIL_ENGINES:-model}
declare -A tail_p99=([gunicorn]=216ms [php-fpm]=217ms [puma]=214ms [jetty]=238ms)
for rt in $RUNTIMES; do
	for seed in $SEEDS; do
		{ grep -v '^#' bench/runtimes/hold.yaml | sed "s/^seed: .*/seed: $seed/"
			echo "server: {max_threads: 16, work_time: 200ms, work_time_dist: lognormal, work_time_p99: ${tail_p99[$rt]}}"; } >"$OUT/profiles/$rt-tail-s$seed.yaml"
	done
done

# PHP-FPM's own copies, with the static pool.
for f in "$OUT"/profiles/ramp.yaml "$OUT"/profiles/split.yaml "$OUT"/profiles/hold-s*.yaml "$OUT"/profiles/php-fpm-tail-s*.yaml; do
	[ -e "$f" ] || continue
	b=$(basename "$f" .yaml)
	case $b in php-fpm-*) out=$f ;; *) out=$OUT/profiles/php-fpm-$b.yaml ;; esac
	sed "s/^server: {\(.*\)}$/server: {\1$static16}/" "$f" >"$out.tmp" && mv "$out.tmp" "$out"
done

run() { # engine runtime mode topology [flags...]
	local engine=$1 rt=$2 mode=$3 topology=$4
	shift 4
	local profile=${PROFILE:-$mode}
	# PHP-FPM runs its own copy of a profile (the rig's static pool), when there is one.
	[ -e "$OUT/profiles/$rt-$profile.yaml" ] && [ -z "${PROFILE:-}" ] && profile=$rt-$profile
	local dir="$OUT/$rt/$engine/$mode"
	rm -rf "$dir"
	echo "[$(date -u +%H:%M:%S)] $rt $engine $mode ($topology; load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
	"$sim" run --engine "$engine" --runtime "$rt" --topology "$topology" --profile "$OUT/profiles/$profile.yaml" \
		--max-duration 10m --out "$dir" "$@" >/dev/null || echo "  exit $?" >&2
}

for engine in $ENGINES; do
	for rt in $RUNTIMES; do
		for mode in $MODES; do
			case $mode in
			ramp) run "$engine" "$rt" ramp self ;;
			split) run "$engine" "$rt" split split ;;
			hold) for seed in $SEEDS; do run "$engine" "$rt" "hold-s$seed" self --stop-on-hang; done ;;
			esac
		done
	done
done
case " $MODES " in *" hold "*)
	for engine in $TAIL_ENGINES; do
		for rt in $RUNTIMES; do
			for seed in $SEEDS; do PROFILE=$rt-tail-s$seed run "$engine" "$rt" "tail-s$seed" self --stop-on-hang; done
		done
	done ;;
esac
"$OUT/calib" -rigs bench/runtimes/data/rigs -sim "$OUT"
echo "records in $OUT" >&2
