#!/usr/bin/env bash
# bench/plan/verify.sh: does the rate `sim plan` calls safe hold on real sockets? The long
# version of cmd/sim's TestPlanSafeRateHoldsOnSockets (three 5-minute holds).
#
# Plans WORKERS × WORK_TIME for Poisson arrivals with the given budget (sim plan's defaults: at
# most 1 % chance of a hang within 24 h), then holds the planned safe_rps on real sockets HOLDS
# times, each HOLD long, PARALLEL at a time, each hold its own `sim run` (its own server on fresh
# ports) with its own seed, and prints one Markdown table (seed, verdict, time to hang, requests,
# OK, p99) and the totals: exposure, hangs, the hazard they measure (exponential MLE with an
# approximate 95 % Garwood interval) beside the model's at the safe rate, and the chance the
# model gives of at least one hang in that exposure.
#
#   bash bench/plan/verify.sh                     # 6 holds of 30 min, 3 at a time: about 1 h
#   HOLDS=3 HOLD=5m bash bench/plan/verify.sh     # the test's size: about 6 min
#
# Environment:
#   WORKERS=16 WORK_TIME=200ms      the pool planned and held
#   HORIZON=24h RISK=1%             the plan's budget
#   HOLDS=6 HOLD=30m PARALLEL=3     holds, their length, how many at once
#   SEED0=1                         the first hold's seed (then SEED0+1, ...)
#   TIMEOUT=2s                      the load client's timeout
#   SIM=path                        a sim binary instead of building the working tree
#   KEEP=1                          keep the temp folder (plan, run records, logs) and print it
#
# The machine has 2 cores shared by everyone: `uptime` is printed at the start and the end.
# Every `sim run` is started in its own session and stopped by PID (SIGTERM, then SIGKILL to its
# group) on every path; each stops its own servers. Holds use --stop-on-hang, so a hold that
# hangs ends a few seconds after. Exit status: 0 no hold hung, 1 a hold hung, 2 setup error.
set -euo pipefail

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; }
for arg in "$@"; do
	case $arg in
	-h | --help) usage; exit 0 ;;
	*) echo "verify.sh: unknown argument '$arg' (allowed: --help)" >&2; exit 2 ;;
	esac
done
for tool in go jq awk setsid; do
	command -v "$tool" >/dev/null || { echo "verify.sh: needs $tool" >&2; exit 2; }
done

WORKERS=${WORKERS:-16}
WORK_TIME=${WORK_TIME:-200ms}
HORIZON=${HORIZON:-24h}
RISK=${RISK:-1%}
HOLDS=${HOLDS:-6}
HOLD=${HOLD:-30m}
PARALLEL=${PARALLEL:-3}
SEED0=${SEED0:-1}
TIMEOUT=${TIMEOUT:-2s}
for v in HOLDS PARALLEL SEED0; do
	[[ ${!v} =~ ^[0-9]+$ ]] || { echo "verify.sh: $v=${!v}: want a whole number" >&2; exit 2; }
done
((HOLDS >= 1 && PARALLEL >= 1)) || { echo "verify.sh: HOLDS and PARALLEL must be at least 1" >&2; exit 2; }
# GRACE is how long a stopped `sim run` gets to stop its servers and write its record.
GRACE=10

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tmp=$(mktemp -d /tmp/sim-plan-verify.XXXXXX)
pids=()
cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill -TERM -- "-$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		for _ in $(seq $((GRACE * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL -- "-$pid" 2>/dev/null || true
	done
	if [[ ${KEEP:-0} == 1 ]]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -n ${SIM:-} ]]; then
	sim=$SIM
else
	sim=$tmp/sim
	(cd "$root" && go build -o "$sim" ./cmd/sim) || { echo "verify.sh: build sim failed" >&2; exit 2; }
fi

echo "# verify: $HOLDS holds of $HOLD at sim plan's safe rate, $WORKERS workers × $WORK_TIME, Poisson" >&2
echo "start: $(uptime)" >&2
"$sim" plan --max-threads "$WORKERS" --work-time "$WORK_TIME" --arrivals poisson --horizon "$HORIZON" --risk "$RISK" \
	--json --out "$tmp/plan" >"$tmp/plan.json" 2>"$tmp/plan.log" || {
	echo "verify.sh: sim plan failed:" >&2; cat "$tmp/plan.log" >&2; exit 2
}
safe=$(jq -r '.rows[0].safe_rps' "$tmp/plan.json")
hz=$(jq -r '.rows[0].hazard_per_hour' "$tmp/plan.json")
hz_hi=$(jq -r '.rows[0].hazard_ci.hi' "$tmp/plan.json")
method=$(jq -r '.rows[0].hazard_method' "$tmp/plan.json")
echo "plan: safe_rps $safe, model hazard $hz per hour (95 % upper $hz_hi, $method)" >&2

hold() { # seed: one hold, its summary on stdout
	local seed=$1 prof=$tmp/hold-$1.yaml
	cat >"$prof" <<-EOF
		description: "bench/plan/verify.sh: steady Poisson hold at the planned safe rate"
		stages:
		  - {duration: $HOLD, mode: hold, target: $safe}
		arrivals: poisson
		seed: $seed
		client: {timeout: $TIMEOUT}
		recovery: {duration: 5s, interval: 500ms, timeout: 1s}
		server: {max_threads: $WORKERS, work_time: $WORK_TIME}
	EOF
	"$sim" run --topology self --profile "$prof" --stop-on-hang --json --out "$tmp/runs-$seed" >"$tmp/sum-$seed.json" 2>"$tmp/run-$seed.log"
}

export -f hold
export tmp sim safe HOLD TIMEOUT WORKERS WORK_TIME
seed=$SEED0
last=$((SEED0 + HOLDS - 1))
while ((seed <= last)); do
	pids=()
	for _ in $(seq "$PARALLEL"); do
		((seed <= last)) || break
		setsid bash -c 'hold "$1"' _ "$seed" &
		pids+=($!)
		seed=$((seed + 1))
	done
	for pid in "${pids[@]}"; do wait "$pid" || true; done
done
pids=()
echo "end:   $(uptime)" >&2

echo
echo "| seed | verdict | hung | time to hang s | requests | OK | p99 ms |"
echo "| ---: | --- | --- | ---: | ---: | ---: | ---: |"
hangs=0
exposure=0
for ((s = SEED0; s <= last; s++)); do
	f=$tmp/sum-$s.json
	if ! jq -e . "$f" >/dev/null 2>&1; then
		echo "| $s | failed: $(tail -n 1 "$tmp/run-$s.log" 2>/dev/null) | | | | | |"
		continue
	fi
	read -r verdict hung after load requests ok p99 < <(jq -r '[.verdict, .hang, (.hang_after_stage_start_s // "–"), .load_duration_s, .requests, .ok, .p99_ms] | @tsv' "$f")
	echo "| $s | $verdict | $hung | $after | $requests | $ok | $p99 |"
	if [[ $hung == true ]]; then
		hangs=$((hangs + 1))
		exposure=$(awk -v e="$exposure" -v a="$after" 'BEGIN { print e + a }')
	else
		exposure=$(awk -v e="$exposure" -v l="$load" 'BEGIN { print e + l }')
	fi
done
echo
# Garwood's interval for k events over T hours, [χ²(0.025; 2k), χ²(0.975; 2k+2)] / 2T, with the
# Wilson–Hilferty approximation of the χ² quantiles (within ~1 % from 2 degrees of freedom).
awk -v k="$hangs" -v s="$exposure" -v hz="$hz" -v hi="$hz_hi" -v safe="$safe" 'function chi2(z, nu) {
	if (nu <= 0) return 0
	return nu * (1 - 2 / (9 * nu) + z * sqrt(2 / (9 * nu))) ^ 3
}
BEGIN {
	t = s / 3600
	printf "exposure %.2f h at %.2f rps, %d hang(s): measured hazard %.3g per hour (95 %% %.3g to %.3g)\n", t, safe, k, k / t, chi2(-1.96, 2 * k) / (2 * t), chi2(1.96, 2 * k + 2) / (2 * t)
	printf "model: %.3g per hour (upper %.3g): P(at least one hang in %.2f h) = %.2g (at the upper end %.2g)\n", hz, hi, t, 1 - exp(-hz * t), 1 - exp(-hi * t)
}'
((hangs == 0))
