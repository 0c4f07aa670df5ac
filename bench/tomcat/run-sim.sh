#!/usr/bin/env bash
# bench/tomcat/run-sim.sh: run `sim run --topology self` with bench/tomcat/profile.yaml N times
# and compare its collapse onset with real Tomcat's 197 rps (issue 5: within +-10 %).
#
#   bash bench/tomcat/run-sim.sh [N]          # N runs, default 3 (about 90 s each)
#
# Environment:
#   OUT=DIR            where run records go (default: a temp folder, kept and printed)
#   REFERENCE=197      the reference onset rate (rps) the ratio is taken against
#   TOMCAT_ONSET=RPS   also print the ratio against your own Tomcat measurement (run-tomcat.sh)
#   SIM_SOURCE=tree|head  build from the working tree (default), or from a snapshot of git HEAD
#                      (`git archive HEAD`); with tree, a build failure falls back to head,
#                      and says so, since other engineers may be mid-edit in the tree.
#
# Exit status: 0 when every run collapsed within +-10 % of REFERENCE and none recovered, 1 when
# any did not, 2 on a setup error.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
n=${1:-3}
ref=${REFERENCE:-197}
source_mode=${SIM_SOURCE:-tree}
case $n in ''|*[!0-9]*) echo "run-sim.sh: N must be a number, got '$n'" >&2; exit 2 ;; esac
if (( n < 1 || n > 20 )); then echo "run-sim.sh: N must be 1..20" >&2; exit 2; fi
command -v jq >/dev/null || { echo "run-sim.sh: needs jq (apt-get install -y jq)" >&2; exit 2; }

TMP=$(mktemp -d /tmp/bench-tomcat-sim.XXXXXX)
OUT=${OUT:-$TMP/runs}
mkdir -p "$OUT"
cleanup() { rm -rf "$TMP/src" "$TMP/sim" "$TMP/ramp"; }
trap cleanup EXIT

# sim, and bench/tomcat/ramp for its -analyze (the rate at which the first failed request was sent).
build_head() {
	rm -rf "$TMP/src" && mkdir -p "$TMP/src"
	git -C "$root" archive HEAD | tar -x -C "$TMP/src"
	rm -rf "$TMP/src/bench/tomcat" && mkdir -p "$TMP/src/bench" && cp -r "$here" "$TMP/src/bench/tomcat"
	(cd "$TMP/src" && go build -o "$TMP/sim" ./cmd/sim && go build -o "$TMP/ramp" ./bench/tomcat/ramp)
	built_from="git HEAD $(git -C "$root" rev-parse --short HEAD) (snapshot)"
}
built_from="working tree"
if [[ $source_mode == head ]]; then
	build_head
elif ! (cd "$root" && go build -o "$TMP/sim" ./cmd/sim && go build -o "$TMP/ramp" ./bench/tomcat/ramp) 2>"$TMP/build.err"; then
	echo "run-sim.sh: the working tree does not build (another engineer mid-edit?):" >&2
	sed 's/^/  /' "$TMP/build.err" | head -5 >&2
	echo "run-sim.sh: building git HEAD instead" >&2
	build_head
fi

echo "sim built from: $built_from"
echo "profile: $here/profile.yaml"
echo "records: $OUT"
printf '%-4s %-15s %-13s %-15s %-10s %-10s %-8s %-6s %-15s %-6s %-6s %-9s %s\n' \
	run onset_rate_rps hang_onset_s peak_close_wait recovered probes_ok ratio result first_fail_rps sent cpu_s idle_min% load_before
fail=0
for i in $(seq 1 "$n"); do
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	json=$TMP/run$i.json
	# Bounded: a run is 40 s of load + 40 s of probes; sim stops its own children. timeout is
	# the belt to those braces.
	mkdir -p "$OUT/run$i"
	# CPU of the whole machine, once a second, to tell our load from other processes'.
	timeout 250s vmstat -t -n 1 >"$OUT/run$i/vmstat.txt" 2>/dev/null &
	vmstat_pid=$!
	# CPU seconds of the whole run (sim run, its vegeta, and the `sim serve` child it reaps),
	# from bash's `time` of the subshell.
	TIMEFORMAT='%U %S'
	if ! { time (cd "$root" && timeout --kill-after=15s 240s "$TMP/sim" run --topology self \
		--profile "$here/profile.yaml" --out "$OUT/run$i" --json >"$json" 2>"$TMP/run$i.err") ; } 2>"$TMP/time$i"; then
		kill "$vmstat_pid" 2>/dev/null || true
		echo "run $i failed:" >&2
		tail -5 "$TMP/run$i.err" >&2
		fail=1
		continue
	fi
	kill "$vmstat_pid" 2>/dev/null || true
	wait "$vmstat_pid" 2>/dev/null || true
	# The lowest idle CPU % of any second of the load (sim needs ~2 s to start its child first).
	idle_min=$(awk 'NR > 4 && NR <= 44 { if (min == "" || $15 < min) min = $15 } END { print min "" }' "$OUT/run$i/vmstat.txt")
	onset=$(jq -r '.onset_rate_rps // "none"' "$json")
	honset=$(jq -r 'if .hang_onset_s == null then "none" else (.hang_onset_s*100|round/100) end' "$json")
	peak=$(jq -r .peak_close_wait "$json")
	sent=$(jq -r .requests "$json")
	cpu_s=$(awk '{ printf "%.1f", $1 + $2 }' "$TMP/time$i")
	recovered=$(jq -r .recovered "$json")
	# Each run gets its own --out folder, so its record is the newest folder in it (summaries
	# printed with --json may not carry record_dir).
	dir=$(jq -r '.record_dir // empty' "$json")
	[[ -n $dir ]] || dir=$(ls -td "$OUT/run$i"/*/ | head -1)
	probes=$(awk -F, 'NR > 1 { n++; if ($3 == "true") ok++ } END { printf "%d/%d", ok, n }' "$dir/probes.csv")
	first_fail=$("$TMP/ramp" -profile "$here/profile.yaml" -analyze "$dir" | jq -r 'if .first_failed_t_s < 0 then "none" else (.first_failed_rps*10|round/10|tostring) end') || first_fail=?
	ratio=- result=FAIL
	if [[ $onset != none ]]; then
		ratio=$(awk -v o="$onset" -v r="$ref" 'BEGIN { printf "%.3f", o / r }')
		if awk -v x="$ratio" 'BEGIN { exit !(x >= 0.9 && x <= 1.1) }' && [[ $recovered == false ]]; then
			result=PASS
		fi
		onset=$(awk -v o="$onset" 'BEGIN { printf "%.1f", o }')
	fi
	[[ $result == PASS ]] || fail=1
	printf '%-4s %-15s %-13s %-15s %-10s %-10s %-8s %-6s %-15s %-6s %-6s %-9s %s\n' \
		"$i" "$onset" "$honset" "$peak" "$recovered" "$probes" "$ratio" "$result" "$first_fail" "$sent" "$cpu_s" "$idle_min" "$load"
	if [[ -n ${TOMCAT_ONSET:-} && $onset != none ]]; then
		awk -v o="$onset" -v t="$TOMCAT_ONSET" 'BEGIN { printf "     vs own Tomcat %.1f rps: ratio %.3f %s\n", t, o / t, (o/t >= 0.9 && o/t <= 1.1) ? "PASS" : "FAIL" }'
	fi
done
echo "ratio = onset / $ref rps; PASS = within +-10 % and not recovered; first_fail_rps = offered rate when the"
echo "first failed request was sent; sent = requests vegeta sent (the profile offers 6100: fewer means the
machine could not keep the pace); cpu_s = CPU seconds used by sim (runner, vegeta and server) over
the whole run; idle_min% = lowest idle CPU of the machine in any second of the run (vmstat)."
echo "Summaries: $TMP/run*.json"
exit $fail
