#!/usr/bin/env bash
# bench/hazard/run.sh: calibration of time to hang on real sockets (issue 13, item 3).
#
# Steady Poisson holds of the self topology, censored at CENSOR, one run per (rate, seed), with
# `sim run --stop-on-hang` (a run that hangs 40 s in costs ~45 s, not CENSOR); uniform ramps for
# the onset rate; split's capacity. Every run appends one row to $DATA/runs.csv and keeps its
# summary.json (not the whole record) in $DATA/summaries/; `table` prints the tables from them:
# per rate the hazard (exponential MLE with censoring, exact 95 % Poisson interval), per seed the
# hang times, and the model beside the sockets where both were run.
#
#   bash bench/hazard/run.sh holds WORKERS RATES [SEEDS]   # e.g. holds 16 30,36,42 1-10
#   bash bench/hazard/run.sh ramps [WORKERS...]            # default 8 16 32 64, RUNS=3 each
#   bash bench/hazard/run.sh split [WORKERS]               # default 16, RUNS=3
#   bash bench/hazard/run.sh table [-model-hazard] [-max-stall MS]   # the tables (go run ./bench/hazard)
#
# Beside every socket run a watcher (bench/hazard -stalls) records how late the machine woke it
# up (stall_max_ms, stall_p99_ms in the row): a freeze of a second or more hangs the self topology
# at any rate, and `table -max-stall 100` leaves such runs out. See README.md.
#
# Environment:
#   ENGINE=sockets|model   which engine runs (default sockets); `sim run --engine model` must exist
#   CENSOR=180s            length of a hold (its single stage), the censoring time
#   TIMEOUT=1s             client timeout of holds and ramps
#   PARALLEL=3             runs at once (each on fresh ports; at these rates a run costs little CPU)
#   NICE=-5                nice level of socket runs, to shield them from compile jobs (needs root
#                          for a negative value; ignored when not permitted)
#   RUNS=3                 runs per pool size for ramps and split
#   DATA=bench/hazard/data where rows, summaries and the log go
#   SIM=path               a sim binary to use instead of building the working tree
#   HAZARD=path            a bench/hazard binary (the stall watcher) instead of building it
#   KEEP=1                 keep the temp folder (profiles, whole run records)
#
# The profiles (written per run into the temp folder; one per setting kept in $DATA/profiles/):
#   hold:  stages [{duration: CENSOR, mode: hold, target: RATE}], arrivals poisson, seed SEED,
#          client timeout TIMEOUT, recovery 5 s (probes every 500 ms, 1 s timeout),
#          server max_threads WORKERS, work_time 200ms, everything else default.
#   ramp:  the quick profile's shape scaled to WORKERS: uniform arrivals, 20 s from L/8 to 1.5 L,
#          L = WORKERS / 0.2 s (Little's bound), so the ramp passes L about 11 s in.
#   split: topology split, uniform hold of 1.25 L for 20 s, client timeout 10 s: the queue grows
#          by 0.25 L per second, so queued requests wait at most ~5 s and every one is answered;
#          the capacity is the mean OK throughput over the windows from 5 s to the end of the load.
#
# The row's obs_s is what the hazard estimate uses: the hold's time to hang (the summary's
# hang_after_stage_start_s) when it hung; else the exposure in which a hang would have been seen:
# the load's length minus hang_hold (a hang that starts later is not confirmed before the load
# ends), or the collapse onset of a run that collapsed and then recovered (saturated).
#
# Exit status: 0 when every run completed, 1 when one failed, 2 on a setup error.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
ENGINE=${ENGINE:-sockets}
CENSOR=${CENSOR:-180s}
TIMEOUT=${TIMEOUT:-1s}
PARALLEL=${PARALLEL:-3}
NICE=${NICE:--5}
RUNS=${RUNS:-3}
DATA=${DATA:-$here/data}

die() { echo "run.sh: $*" >&2; exit 2; }

# secs DURATION: whole seconds of "180s", "3m" or "90".
secs() {
	case $1 in
	*m) echo $((${1%m} * 60)) ;;
	*s) echo "${1%s}" ;;
	*) echo "$1" ;;
	esac
}

# profile KIND WORKERS RATE SEED: the YAML of one run.
profile() {
	local kind=$1 n=$2 rate=$3 seed=$4 l=$(($2 * 5))
	case $kind in
	hold) cat <<EOF
description: "bench/hazard: steady Poisson hold of $rate rps for $CENSOR; $n workers x 200ms, seed $seed"
stages:
  - {duration: $CENSOR, mode: hold, target: $rate}
arrivals: poisson
seed: $seed
client: {timeout: $TIMEOUT}
recovery: {duration: 5s, interval: 500ms, timeout: 1s}
server: {max_threads: $n, work_time: 200ms}
EOF
		;;
	ramp) cat <<EOF
description: "bench/hazard: uniform ramp $(awk -v l=$l 'BEGIN{print l/8}')->$(awk -v l=$l 'BEGIN{print 1.5*l}') rps over 20 s; $n workers x 200ms (Little's bound $l rps)"
stages:
  - {duration: 20s, from: $(awk -v l=$l 'BEGIN{print l/8}'), target: $(awk -v l=$l 'BEGIN{print 1.5*l}')}
client: {timeout: $TIMEOUT}
recovery: {duration: 5s, interval: 500ms, timeout: 1s}
server: {max_threads: $n, work_time: 200ms}
EOF
		;;
	split) cat <<EOF
description: "bench/hazard: split over capacity, uniform hold of $(awk -v l=$l 'BEGIN{print 1.25*l}') rps for 20 s; $n workers x 200ms"
stages:
  - {duration: 20s, mode: hold, target: $(awk -v l=$l 'BEGIN{print 1.25*l}')}
client: {timeout: 10s}
recovery: {duration: 5s, interval: 500ms, timeout: 1s}
server: {max_threads: $n, work_time: 200ms}
EOF
		;;
	esac
}

header=engine,kind,workers,rate,seed,censor_s,client_timeout_s,verdict,hung,obs_s,hang_after_s,onset_rate_rps,capacity_rps,load_s,stopped_on_hang,started_utc,load1,stall_max_ms,stall_p99_ms,summary

# one ENGINE KIND WORKERS RATE SEED: one run, one row (run by xargs, several at once).
one() {
	local engine=$1 kind=$2 n=$3 rate=$4 seed=$5
	local name=$engine-$kind-w$n-r$rate-s$seed
	local prof=$TMP/profiles/$kind-w$n-r$rate-s$seed.yaml
	mkdir -p "$TMP/profiles" "$TMP/runs/$name" "$DATA/summaries"
	[[ -f $prof ]] || profile "$kind" "$n" "$rate" "$seed" >"$prof"
	# The profile of each setting is kept beside the rows (the seed is the run's; for holds it
	# is set per run), so that `table -model-hazard` gives the model the very same server and
	# client.
	mkdir -p "$DATA/profiles"
	[[ -f $DATA/profiles/$kind-w$n-r$rate.yaml ]] ||
		sed "s/^seed: .*/seed: 1  # run.sh sets the seed of each run (1..K)/" "$prof" >"$DATA/profiles/$kind-w$n-r$rate.yaml"
	local topology=self args=(--stop-on-hang)
	[[ $kind == split ]] && topology=split args=()
	[[ $engine == model ]] && args+=(--engine model)
	local load1 started json=$TMP/runs/$name.json
	load1=$(cut -d' ' -f1 /proc/loadavg)
	started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	local pre=()
	if [[ $engine == sockets && $NICE != 0 ]] && nice -n "$NICE" true 2>/dev/null; then
		pre=(nice -n "$NICE")
	fi
	local limit=$(($(secs "$CENSOR") + 120))
	# The stall watcher runs beside a socket run, at the same nice level, for as long as it.
	local watcher= stalls=("" "")
	if [[ $engine == sockets ]]; then
		"${pre[@]}" "$HAZARD" -stalls "$TMP/runs/$name.stalls" &
		watcher=$!
	fi
	# Bounded: the load stops at its end (or at the hang), sim stops its own children; timeout
	# is the belt.
	local ok=1
	(cd "$root" && timeout --kill-after=15s "${limit}s" "${pre[@]}" "$SIM" run --topology "$topology" \
		--profile "$prof" --out "$TMP/runs/$name" --json "${args[@]}" >"$json" 2>"$TMP/runs/$name.err") || ok=0
	if [[ -n $watcher ]]; then
		kill -TERM "$watcher" && wait "$watcher" || true
		read -r -a stalls <"$TMP/runs/$name.stalls" || stalls=("" "")
	fi
	if ((!ok)); then
		echo "run $name failed: $(tail -1 "$TMP/runs/$name.err")" >&2
		return 1
	fi
	local capacity=
	if [[ $kind == split ]]; then
		# Mean OK throughput over the load windows from 5 s on (columns by name, not position).
		capacity=$(awk -F, 'NR==1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
			$col["phase"] == "load" && $col["t_s"] >= 5 { ok += $col["ok"]; w += $col["window_s"] }
			END { if (w > 0) printf "%.2f", ok / w }' "$TMP"/runs/"$name"/*/timeline.csv)
	fi
	local stamp
	stamp=$(date -u +%Y%m%dT%H%M%SZ)
	cp "$json" "$DATA/summaries/$name-$stamp.json"
	local row
	row=$(jq -r --arg e "$engine" --arg k "$kind" --arg n "$n" --arg r "$rate" --arg s "$seed" \
		--arg c "$(secs "$CENSOR")" --arg to "$(secs "$TIMEOUT")" --arg cap "$capacity" \
		--arg st "$started" --arg l "$load1" --arg smax "${stalls[0]}" --arg sp99 "${stalls[1]}" \
		--arg f "summaries/$name-$stamp.json" '
		def num: if . == null then "" else (. * 1000 | round / 1000 | tostring) end;
		(if .hang then .hang_after_stage_start_s
		 elif .collapse then .collapse_onset_s
		 else ([.load_duration_s - .thresholds.hang_hold_s, 0] | max) end) as $obs |
		[$e, $k, $n, $r, (if $k == "hold" then $s else "" end), (if $k == "hold" then $c else "" end),
		 (if $k == "split" then "10" else $to end), .verdict, (.hang | tostring), ($obs | num),
		 (.hang_after_stage_start_s | num), (.onset_rate_rps | num), $cap, (.load_duration_s | num),
		 (.stopped_on_hang // false | tostring), $st, $l, $smax, $sp99, $f] | @csv' "$json")
	(
		flock 9
		[[ -s $DATA/runs.csv ]] || echo "$header" >>"$DATA/runs.csv"
		echo "$row" >>"$DATA/runs.csv"
	) 9>>"$DATA/.lock"
	# The figure of the run: time to hang (or exposure) of a hold, onset rate of a ramp,
	# capacity of split.
	local figure
	case $kind in
	hold) figure="obs $(echo "$row" | cut -d, -f10 | tr -d '"') s" ;;
	ramp) figure="onset $(echo "$row" | cut -d, -f12 | tr -d '"') rps" ;;
	split) figure="capacity $capacity rps" ;;
	esac
	printf '%-7s %-5s w%-3s %6s rps seed %-3s %-9s %-18s load1 %-5s stall max %s ms\n' "$engine" "$kind" "$n" "$rate" "${seed:--}" \
		"$(jq -r .verdict "$json")" "$figure" "$load1" "${stalls[0]:--}"
}

# seeds SPEC: "1-10" or "1,2,5" as one seed a line.
seeds() {
	local part
	for part in ${1//,/ }; do
		case $part in
		*-*) seq "${part%-*}" "${part#*-}" ;;
		*) echo "$part" ;;
		esac
	done
}

if [[ ${1:-} == _one ]]; then
	shift
	one "$@"
	exit
fi

cmd=${1:-}
[[ -n $cmd ]] || die "usage: run.sh holds WORKERS RATES [SEEDS] | ramps [WORKERS...] | split [WORKERS] | table"
shift
if [[ $cmd == table ]]; then
	cd "$root" && exec go run ./bench/hazard -data "$DATA" "$@"
fi
command -v jq >/dev/null || die "needs jq (apt-get install -y jq)"
command -v flock >/dev/null || die "needs flock (util-linux)"
case $ENGINE in sockets | model) ;; *) die "ENGINE is sockets or model, got '$ENGINE'" ;; esac

TMP=$(mktemp -d /tmp/bench-hazard.XXXXXX)
cleanup() { [[ -n ${KEEP:-} ]] && echo "kept: $TMP" >&2 || rm -rf "$TMP"; }
trap cleanup EXIT
if [[ -z ${SIM:-} ]]; then
	SIM=$TMP/sim
	if ! (cd "$root" && go build -o "$SIM" ./cmd/sim) 2>"$TMP/build.err"; then
		echo "run.sh: the working tree does not build (another engineer mid-edit?); SIM=path uses a built sim:" >&2
		sed 's/^/  /' "$TMP/build.err" | head -5 >&2
		exit 2
	fi
fi
if [[ -z ${HAZARD:-} ]]; then
	HAZARD=$TMP/hazard
	if ! (cd "$root" && go build -o "$HAZARD" ./bench/hazard) 2>"$TMP/build.err"; then
		echo "run.sh: bench/hazard does not build; HAZARD=path uses a built one:" >&2
		sed 's/^/  /' "$TMP/build.err" | head -5 >&2
		exit 2
	fi
fi
# Read whole: grep -q would close the pipe early, and pipefail would then blame sim.
help=$("$SIM" run --help 2>/dev/null || true)
if [[ $ENGINE == model && $help != *--engine* ]]; then
	die "this sim has no 'sim run --engine model' yet"
fi
[[ $help == *--stop-on-hang* ]] || die "this sim has no 'sim run --stop-on-hang'"

jobs=()
case $cmd in
holds)
	(($# >= 2)) || die "usage: run.sh holds WORKERS RATES [SEEDS]"
	n=$1 rates=${2//,/ } spec=${3:-1-10}
	# Seed-major, so that every rate sees the same stretch of machine load.
	for s in $(seeds "$spec"); do
		for r in $rates; do jobs+=("$ENGINE hold $n $r $s"); done
	done
	;;
ramps)
	ws=("$@")
	((${#ws[@]})) || ws=(8 16 32 64)
	for i in $(seq "$RUNS"); do
		for n in "${ws[@]}"; do jobs+=("$ENGINE ramp $n $((n * 5)) $i"); done
	done
	;;
split)
	n=${1:-16}
	for i in $(seq "$RUNS"); do jobs+=("$ENGINE split $n $((n * 5 * 5 / 4)) $i"); done
	;;
*) die "unknown command '$cmd' (holds, ramps, split, table)" ;;
esac
for j in "${jobs[@]}"; do
	for w in $j; do case $w in '' | *[!0-9a-z.]*) die "bad argument '$w' in '$j'" ;; esac; done
done

mkdir -p "$DATA"
export SIM HAZARD TMP DATA CENSOR TIMEOUT NICE header
log() { echo "$*" | tee -a "$DATA/runs.log"; }
log "== $(date -u '+%Y-%m-%d %H:%M:%S UTC') $ENGINE $cmd $*  (CENSOR=$CENSOR TIMEOUT=$TIMEOUT PARALLEL=$PARALLEL NICE=$NICE)"
log "   machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr), $(go version 2>/dev/null | cut -d' ' -f3)"
log "   tree: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?') + $(git -C "$root" status --short 2>/dev/null | wc -l) changed files; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
simfrom="built from this tree"
[[ $SIM == "$TMP/sim" ]] || simfrom="given: $SIM, built $(date -u -r "$SIM" '+%Y-%m-%d %H:%M UTC')"
log "   sim: $simfrom, sha256 $(sha256sum "$SIM" | cut -c1-12)"
log "   ${#jobs[@]} runs, $PARALLEL at once"
start=$SECONDS
fail=0
printf '%s\n' "${jobs[@]}" | xargs -P "$PARALLEL" -L 1 bash "${BASH_SOURCE[0]}" _one || fail=1
log "   done in $((SECONDS - start)) s; load average at end: $(cut -d' ' -f1-3 /proc/loadavg); failed runs: $fail"
exit $fail
