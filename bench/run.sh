#!/usr/bin/env bash
# bench/run.sh: "fast where it counts" (issue 6). Measures, in one invocation on this machine,
# and prints one Markdown table:
#
#   1. sampler   cost of one socket-state sample at 1k and 10k sockets: netlink inet_diag vs
#                parsing /proc/net/tcp vs running ss (the Go benchmark in simulator/sockets), and
#                the watch agent's whole sample at 10k, before and with self-calls
#                (simulator/watch);
#   2. runner    the highest constant rate that `sim run --topology split` sustains with OK >= 99 %
#                of the planned requests, and the same for a plain vegeta attack
#                (bench/vegetabase) on the same server config: the runner's own cost;
#   3. memory    the RSS of a `sim run` process holding a steady rate for 5 minutes, sampled every
#                5 s: it must stay flat (results are streamed to disk, windows aggregated).
#
#   bash bench/run.sh            # full run: about 10 minutes
#   bash bench/run.sh --quick    # 60 s memory run instead of 300 s: about 6 minutes
#
# Environment:
#   SECTIONS="sampler runner memory"   the sections to run (default: all three)
#   KEEP=1                             keep the temp folder (run records, logs) and print it
#
# The machine has 2 cores shared by everyone: `uptime` is printed at the start and end of every
# section and the load averages go into the table. Run it when the 1-minute load is below 1.
#
# Every process it starts gets its own session (setsid) and is stopped by PID on every path
# (SIGTERM, then SIGKILL to its group after a grace period); every load is bounded in rate and
# time. Exit status: 0 all sections measured, 1 a section could not be measured, 2 setup error.

# The sections and helpers are called by name ("$s" below), which shellcheck cannot follow.
# shellcheck disable=SC2317
set -euo pipefail

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; }

quick=0
for arg in "$@"; do
	case $arg in
	--quick) quick=1 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "run.sh: unknown argument '$arg' (allowed: --quick, --help)" >&2; exit 2 ;;
	esac
done
SECTIONS=${SECTIONS:-sampler runner memory}
for s in $SECTIONS; do
	case $s in sampler | runner | memory) ;; *)
		echo "run.sh: SECTIONS: unknown section '$s' (allowed: sampler runner memory)" >&2; exit 2 ;;
	esac
done
for tool in go jq awk setsid ss; do
	command -v "$tool" >/dev/null || { echo "run.sh: needs $tool" >&2; exit 2; }
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# --- Settings -----------------------------------------------------------------------------

# Runner section. The server does no work (work_time 0) and its pools are far larger than the
# requests in flight at these rates (a few at p50 0.3 ms), so that only CPU limits the rate.
RATE_LO=500          # the search's floor
RATE_HI=20000        # its ceiling: loadprofiles.MaxTarget, the highest rate a profile may ask for
# The first rate tried, where the attackers' CPU per request is compared: PITFALLS.md's measured
# ceiling of split, which both should sustain on a quiet machine.
RATE_FIRST=2000
RATE_STEP=100        # rates are multiples of this
# Stop when the bracket [sustained, failed] is within 10 %: runs near the edge vary more than that
# from one to the next (see step).
RATE_TOL=0.10
HOLD_S=8             # each trial holds its rate this long
OK_MIN=0.99          # sustained = OK >= 99 % of the planned requests (rate x HOLD_S)
COOLDOWN_S=3         # pause after a failed trial
# No new rate once the section has run this long: a rate takes 2 or 3 trials of 9-13 s per
# attacker, so the section ends within about 5 minutes.
RUNNER_BUDGET_S=240
# The client settings of both attackers: a sim profile's defaults (loadprofiles), written out so
# that vegetabase gets exactly the same.
CLIENT_TIMEOUT=2s CLIENT_CONNECTIONS=10000 CLIENT_MAX_WORKERS=0

# Memory section.
MEM_RATE=300
MEM_S=300
((quick)) && MEM_S=60
MEM_EVERY_S=5
# The slope is fitted over the last 4/5 of the load (the last 4 minutes of a 5-minute run):
# the first minute holds the warm-up (connection pools, GC heap target, allocator spans).
MEM_FIT_FROM_S=$((MEM_S / 5))

CLK_TCK=$(getconf CLK_TCK)

# --- Processes ------------------------------------------------------------------------------

TMP=$(mktemp -d /tmp/bench-run.XXXXXX)
started=()   # PIDs of every process started; each leads its own session and process group

# alive PID: the process exists and is not a zombie waiting for us to reap it.
alive() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	[[ ${st%% *} != Z ]]
}

# forget PID: drops a reaped PID from started, so that cleanup never signals a process that
# reused its number.
forget() {
	local i
	for i in "${!started[@]}"; do
		if [[ ${started[$i]} == "$1" ]]; then unset 'started[$i]'; fi
	done
}

# stop PID: SIGTERM, up to 8 s (sim run stops its own children within 3 s), then SIGKILL to the
# whole group; reaps it. Returns the process's exit status when it exited by itself.
stop() {
	local pid=$1 i
	if alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 80; i++)); do
			alive "$pid" || break
			sleep 0.1
		done
		if alive "$pid"; then
			echo "run.sh: PID $pid did not stop on SIGTERM within 8 s; killing its group" >&2
			kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	local rc=0
	wait "$pid" 2>/dev/null || rc=$?
	forget "$pid"
	return "$rc"
}

cleanup() {
	local pid
	for pid in "${started[@]}"; do
		stop "$pid" || true
	done
	if [[ ${KEEP:-} == 1 ]]; then
		echo "run.sh: kept $TMP" >&2
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start OUT ERR CMD...: runs CMD in the background in its own session; sets BG.
start() {
	local out=$1 err=$2
	shift 2
	: >"$out"   # exists before the child runs, for whoever polls it
	setsid "$@" >"$out" 2>"$err" </dev/null &
	BG=$!
	started+=("$BG")
}

# cpu_ticks PID: user + system CPU of the process itself (not its children), in clock ticks.
cpu_ticks() {
	local st f
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	read -ra f <<<"${st##*) }"
	echo $((f[11] + f[12]))
}

# rss_kb PID: resident set size (VmRSS) in kB.
rss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" 2>/dev/null; }

# wait_for PID LIMIT_S: waits for PID to exit, at most LIMIT_S seconds (then stops it), reading its
# CPU time every 0.2 s; sets TICKS to the last reading and RC to its exit status (124: stopped).
wait_for() {
	local pid=$1 limit=$2 t0=$SECONDS v
	TICKS=0
	while alive "$pid"; do
		if v=$(cpu_ticks "$pid"); then TICKS=$v; fi
		if ((SECONDS - t0 > limit)); then
			echo "run.sh: PID $pid ran over its ${limit} s bound; stopping it" >&2
			stop "$pid" || true
			RC=124
			return
		fi
		sleep 0.2
	done
	RC=0
	wait "$pid" || RC=$?
	forget "$pid"
}

# --- Output ---------------------------------------------------------------------------------

rows=()   # table rows: "section|measurement|result|compared"
row() { rows+=("$1|$2|$3|$4"); }
load1() { cut -d' ' -f1 /proc/loadavg; }
section_begin() {
	SECTION_T0=$SECONDS SECTION_LOAD0=$(load1)
	echo
	echo "== $1 =="
	echo "uptime at start: $(uptime)"
}
section_end() {
	echo "uptime at end:   $(uptime)"
	row "$1" "load average (1 min), start → end; wall time" "$SECTION_LOAD0 → $(load1); $((SECONDS - SECTION_T0)) s" ""
}
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
failed=0

# --- Build ----------------------------------------------------------------------------------

began=$(date '+%Y-%m-%d %H:%M:%S %Z')
T0=$SECONDS
echo "bench/run.sh${*:+ $*} — $began — $(nproc) cores, $(uname -r), $(go version | cut -d' ' -f3)"
echo "uptime: $(uptime)"
if awk -v l="$(load1)" 'BEGIN { exit !(l >= 1.0) }'; then
	echo "WARNING: 1-minute load average $(load1) >= 1 on $(nproc) cores: others are busy, figures will be noisy"
fi
if ! go build -o "$TMP/sim" ./cmd/sim 2>"$TMP/build.err" ||
	! go build -o "$TMP/vegetabase" ./bench/vegetabase 2>>"$TMP/build.err"; then
	echo "run.sh: build failed (another engineer mid-edit?):" >&2
	head -20 "$TMP/build.err" >&2
	exit 2
fi

# --- 1. Sampler cost ------------------------------------------------------------------------

# bench_ns NAME N: ns/op of BenchmarkNAME/n=N from the benchmark output files.
bench_ns() {
	cat "$TMP"/bench*.txt | awk -v name="Benchmark$1/n=$2-" 'index($1, name) == 1 && $4 == "ns/op" { v = $3 } END { if (v != "") print v }'
}

sampler() {
	section_begin "1. sampler cost per sample (go test -bench, 20 samples each)"
	# /proc/net/tcp lists every socket of the network namespace, other processes' included, so
	# its cost depends on them: their number goes into the table.
	local others
	others=$(ss -s | awk '/^TCP:/ { print $2 }')
	echo "TCP sockets in this network namespace before the fixtures: $others ($(ss -s | awk '/^TCP:/ { $1 = $2 = ""; print }' | sed 's/^ *//'))"
	local rc=0 name n attempt
	go test -run '^$' -bench . -benchtime 20x ./simulator/sockets/ >"$TMP/bench.txt" 2>&1 || rc=$?
	grep -E '^(Benchmark|--- FAIL|    bench_test)' "$TMP/bench.txt" || true
	# A benchmark fails when a sample miscounts its fixture: /proc/net/tcp is no consistent
	# snapshot, and sockets other processes open meanwhile can make it count one twice. Rerun
	# that benchmark alone, twice at most.
	for name in Netlink Proc SS; do
		for attempt in 1 2; do
			[[ -n $(bench_ns "$name" 1000) && -n $(bench_ns "$name" 10000) ]] && break
			echo "Benchmark$name did not report both sizes (exit $rc); rerun $attempt of 2"
			go test -run '^$' -bench "^Benchmark$name\$" -benchtime 20x ./simulator/sockets/ \
				>"$TMP/bench-$name-$attempt.txt" 2>&1 || true
			grep -E '^(Benchmark|--- FAIL|    bench_test)' "$TMP/bench-$name-$attempt.txt" || true
		done
	done
	for n in 1000 10000; do
		local nl pr sv label="$((n / 1000))k sockets"
		nl=$(bench_ns Netlink "$n") pr=$(bench_ns Proc "$n") sv=$(bench_ns SS "$n")
		if [[ -z $nl ]]; then
			row sampler "$label: netlink inet_diag" "not measured (see the log above)" ""
			failed=1
			continue
		fi
		row sampler "$label: netlink inet_diag" "$(calc '%.2f' "$nl / 1e6") ms/sample" "1 (reference)"
		for m in "/proc/net/tcp + tcp6 parsing:$pr" "ss -Htan state close-wait (fork + exec):$sv"; do
			local what=${m%%:*} ns=${m##*:}
			if [[ -z $ns ]]; then
				row sampler "$label: $what" "not measured (see the log above)" ""
				failed=1
			else
				row sampler "$label: $what" "$(calc '%.2f' "$ns / 1e6") ms/sample" "$(calc '%.1f' "$ns / $nl")× netlink"
			fi
		done
	done
	# The watch agent's whole sample at 10k sockets (sockets, then the owner's fds), as before
	# self-calls and with them (simulator/watch BenchmarkWatcherSample): one run, so the ratio is
	# measured under the same load.
	go test -run '^$' -bench '^BenchmarkWatcherSample$' -benchtime 20x ./simulator/watch/ >"$TMP/bench-watch.txt" 2>&1 || true
	grep -E '^(Benchmark|--- FAIL)' "$TMP/bench-watch.txt" || true
	local base
	base=$(awk '$1 ~ /^BenchmarkWatcherSample\/census-only-[0-9]+$/ && $4 == "ns/op" { print $3 }' "$TMP/bench-watch.txt")
	for m in "census-only:census as before self-calls" "selfcall:census + self-calls (owners known)" "selfcall-cold:census + self-calls (every socket new: fd links read)"; do
		local mode=${m%%:*} what=${m#*:} ns
		ns=$(awk -v re="^BenchmarkWatcherSample/$mode-[0-9]+$" '$1 ~ re && $4 == "ns/op" { print $3 }' "$TMP/bench-watch.txt")
		if [[ -z $ns || -z $base ]]; then
			row sampler "10k sockets: sim watch, $what" "not measured (see the log above)" ""
			failed=1
		else
			row sampler "10k sockets: sim watch, $what" "$(calc '%.2f' "$ns / 1e6") ms/sample" "$(calc '%.2f' "$ns / $base")× before"
		fi
	done
	row sampler "TCP sockets of other processes in the namespace (all of them cost /proc)" "$others" ""
	section_end sampler
}

# --- 2. Runner overhead ---------------------------------------------------------------------

SERVER_YAML="server: {work_time: 0s, max_threads: 200, max_per_route: 200, max_total: 200}"
CLIENT_YAML="client: {timeout: $CLIENT_TIMEOUT, keepalive: true, max_workers: $CLIENT_MAX_WORKERS, connections: $CLIENT_CONNECTIONS}"
sim_limits=()   # --max-rate, when this sim has the flag (its default cap is below RATE_HI)
serve_args=()   # `sim serve` arguments of the runner's own trials, read from their config.json
trial_n=0

# TRIAL sets: PASS (1/0), LINE (a log line), CPU_US (attacker CPU per request, µs).
trial_result() {
	local tool=$1 rate=$2 json=$3 ticks=$4 planned reqs ok p99 extra
	planned=$((rate * HOLD_S))
	NORESULT=0
	if [[ ! -s $json ]] || ! jq -e '.requests | numbers' "$json" >/dev/null 2>&1; then
		PASS=0 CPU_US='' NORESULT=1
		LINE=$(printf '%-10s %6d rps  no result (exit %s): %s' "$tool" "$rate" "$RC" "$(tail -1 "$(dirname "$json")/stderr")")
		return
	fi
	IFS=$'\t' read -r reqs ok p99 extra < <(jq -r '[.requests, .ok, .p99_ms, (.verdict // "-")] | @tsv' "$json") || true
	PASS=$(awk -v ok="$ok" -v p="$planned" -v m="$OK_MIN" 'BEGIN { print (ok >= m * p) ? 1 : 0 }')
	CPU_US=$(awk -v t="$ticks" -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN { if (n > 0) printf "%.0f", t / hz * 1e6 / n }')
	LINE=$(printf '%-10s %6d rps  planned %6d  done %6d  OK %6.2f %%  p99 %8.1f ms  %-9s  attacker CPU %4s µs/req  %s  load %s' \
		"$tool" "$rate" "$planned" "$reqs" "$(calc '%.2f' "100 * $ok / $planned")" "$p99" "$extra" "${CPU_US:-?}" \
		"$( ((PASS)) && echo PASS || echo fail)" "$(load1)")
}

# sim_trial RATE: one `sim run --topology split` holding RATE for HOLD_S.
sim_trial() {
	local rate=$1 dir
	trial_n=$((trial_n + 1))
	dir=$TMP/runner/$trial_n-sim-$rate
	mkdir -p "$dir"
	cat >"$dir/hold.yaml" <<-EOF
		description: "bench/run.sh: hold $rate rps for ${HOLD_S}s on a server with no work"
		stages:
		  - {duration: ${HOLD_S}s, mode: hold, target: $rate}
		$CLIENT_YAML
		recovery: {duration: 1s, interval: 500ms, timeout: 1s}
		$SERVER_YAML
	EOF
	start "$dir/summary.json" "$dir/stderr" "$TMP/sim" run "${sim_limits[@]}" --topology split --profile "$dir/hold.yaml" --out "$dir/runs" --json
	# Bounded: the hold, 1 s of probes, up to timeout + 5 s of drain, 3 s to stop the children.
	wait_for "$BG" $((HOLD_S + 30))
	trial_result "sim run" "$rate" "$dir/summary.json" "$TICKS"
	if ((${#serve_args[@]} == 0)); then
		local cfg
		cfg=$(find "$dir/runs" -name config.json | head -1)
		if [[ -n $cfg ]]; then mapfile -t serve_args < <(jq -r '.serve_args[]' "$cfg"); fi
	fi
}

# vegeta_trial RATE: a fresh `sim serve` with the runner's own arguments, attacked by
# vegetabase at RATE for HOLD_S, then stopped.
vegeta_trial() {
	local rate=$1 dir spid i app=
	trial_n=$((trial_n + 1))
	dir=$TMP/runner/$trial_n-vegeta-$rate
	mkdir -p "$dir"
	if ((${#serve_args[@]} == 0)); then
		PASS=0 CPU_US='' NORESULT=1 LINE="vegeta     $rate rps  no server arguments: no sim run trial wrote a config.json"
		return
	fi
	start "$dir/serve.out" "$dir/serve.err" "$TMP/sim" "${serve_args[@]}"
	spid=$BG
	# The static line is printed last, once all three listeners are up.
	for ((i = 0; i < 150; i++)); do
		grep -q '^static ' "$dir/serve.out" && break
		alive "$spid" || break
		sleep 0.1
	done
	app=$(awk '$1 == "app" { print $2 }' "$dir/serve.out")
	if [[ -z $app ]] || ! grep -q '^static ' "$dir/serve.out"; then
		stop "$spid" || true
		PASS=0 CPU_US='' NORESULT=1 LINE="vegeta     $rate rps  sim serve did not start: $(tail -1 "$dir/serve.err")"
		return
	fi
	start "$dir/result.json" "$dir/stderr" "$TMP/vegetabase" -url "$app/page" -rate "$rate" -duration "${HOLD_S}s" \
		-timeout "$CLIENT_TIMEOUT" -keepalive=true -connections "$CLIENT_CONNECTIONS" -max-workers "$CLIENT_MAX_WORKERS"
	wait_for "$BG" $((HOLD_S + 30))
	stop "$spid" || true
	trial_result "vegeta" "$rate" "$dir/result.json" "$TICKS"
}

# The search, per attacker: lo is the highest rate sustained (RATE_LO, untested, to begin with),
# hi the lowest that failed (RATE_HI + RATE_STEP, untested, to begin with). The first trial is
# at RATE_FIRST, then at the geometric middle of [lo, hi] until hi / lo <= 1 + RATE_TOL.
declare -A lo=([sim]=$RATE_LO [vegeta]=$RATE_LO) hi=([sim]=$((RATE_HI + RATE_STEP)) [vegeta]=$((RATE_HI + RATE_STEP)))
declare -A tested_lo=([sim]=0 [vegeta]=0) tested_hi=([sim]=0 [vegeta]=0) first_done=([sim]=0 [vegeta]=0)
declare -A broken=([sim]=0 [vegeta]=0) cpu_sum=([sim]=0 [vegeta]=0) cpu_n=([sim]=0 [vegeta]=0) trials=([sim]=0 [vegeta]=0)

# next_rate TOOL: the rate to try next, or nothing when the search is over.
next_rate() {
	local t=$1 l=${lo[$1]} h=${hi[$1]}
	if ((broken[$t])); then return; fi
	if ((!first_done[$t])); then echo "$RATE_FIRST"; return; fi
	if awk -v l="$l" -v h="$h" -v t="$RATE_TOL" -v s="$RATE_STEP" 'BEGIN { exit !(h <= l * (1 + t) || h - l <= s) }'; then
		return
	fi
	awk -v l="$l" -v h="$h" -v s="$RATE_STEP" 'BEGIN { m = int(sqrt(l * h) / s + 0.5) * s
		if (m <= l) m = l + s; if (m >= h) m = h - s; print m }'
}

# step TOOL RATE: one rate of the search, decided by a majority of up to three trials. Near the
# edge a run is bistable: a late burst makes vegeta's unbounded workers open more connections,
# which take CPU from the server, which makes more requests late, and the run collapses. What
# sets that off (a GC, another process) comes at random, so one trial decides nothing there.
step() {
	local t=$1 rate=$2 pass=0 fail=0
	while ((pass < 2 && fail < 2)); do
		if [[ $t == sim ]]; then sim_trial "$rate"; else vegeta_trial "$rate"; fi
		trials[$t]=$((trials[$t] + 1))
		echo "$LINE"
		if ((NORESULT)); then
			# A trial that could not run says nothing about the rate: stop this search.
			echo "  -> $t: no result, the search stops (see the line above)"
			broken[$t]=1 failed=1
			return
		fi
		if ((PASS)); then pass=$((pass + 1)); else fail=$((fail + 1)); fi
		if ((rate == RATE_FIRST)) && [[ -n $CPU_US ]]; then
			cpu_sum[$t]=$((cpu_sum[$t] + CPU_US)) cpu_n[$t]=$((cpu_n[$t] + 1))
		fi
		# A collapsed trial leaves thousands of sockets closing and two processes exiting;
		# give the machine a moment before the next one.
		if ((PASS)); then sleep 0.5; else sleep "$COOLDOWN_S"; fi
	done
	first_done[$t]=1
	if ((pass == 2)); then
		lo[$t]=$rate tested_lo[$t]=1
		echo "  -> $t sustains $rate rps ($pass of $((pass + fail)) trials)"
	else
		hi[$t]=$rate tested_hi[$t]=1
		echo "  -> $t does not sustain $rate rps ($pass of $((pass + fail)) trials)"
	fi
}

# max_text TOOL: the search's answer in words.
max_text() {
	local t=$1 note=
	if ((broken[$t])); then note=", search stopped: a trial had no result"; fi
	if ((!tested_lo[$t])); then
		echo "< ${hi[$t]} rps (no rate tried was sustained; ${trials[$t]} trials$note)"
	elif ((!tested_hi[$t])); then
		echo "≥ ${lo[$t]} rps (no rate tried failed; ${trials[$t]} trials$note)"
	else
		echo "${lo[$t]} rps (failed at ${hi[$t]}; ${trials[$t]} trials$note)"
	fi
}

runner() {
	section_begin "2. runner overhead: max rate with OK ≥ 99 % over a ${HOLD_S} s hold, split, work_time 0"
	echo "trials alternate between the two attackers so that both see the same machine; a rate"
	echo "is sustained when two of (at most) three trials pass"
	# Not `| grep -q`: under pipefail, grep's early exit makes sim's write fail (SIGPIPE).
	if [[ $("$TMP/sim" run --help 2>&1) == *--max-rate* ]]; then
		sim_limits=(--max-rate "$RATE_HI")
	fi
	local t0=$SECONDS r1 r2 searched=0
	while :; do
		r1=$(next_rate sim) r2=$(next_rate vegeta)
		if [[ -z $r1 && -z $r2 ]]; then searched=1; break; fi
		if ((SECONDS - t0 > RUNNER_BUDGET_S)); then
			echo "time budget of $RUNNER_BUDGET_S s spent: the search stops here"
			break
		fi
		if [[ -n $r1 ]]; then step sim "$r1"; fi
		if [[ -n $r2 ]]; then step vegeta "$r2"; fi
	done
	echo "sim serve arguments of both (from the first sim run trial's config.json): ${serve_args[*]:1}"
	row runner "max sustained rate, \`sim run --topology split\`" "$(max_text sim)" ""
	row runner "max sustained rate, plain vegeta (bench/vegetabase), same server" "$(max_text vegeta)" ""
	if ((tested_lo[sim] && tested_lo[vegeta] && !broken[sim] && !broken[vegeta])); then
		row runner "max sustained rate, sim run / plain vegeta" "$(calc '%.2f' "${lo[sim]} / ${lo[vegeta]}")" \
			"$(if ((searched)); then echo "each bracket within $(calc '%.0f' "$RATE_TOL * 100") %"; else echo "search cut by the time budget"; fi)"
	else
		failed=1
	fi
	if ((cpu_n[sim] && cpu_n[vegeta])); then
		local cs cv
		cs=$(calc '%.0f' "${cpu_sum[sim]} / ${cpu_n[sim]}") cv=$(calc '%.0f' "${cpu_sum[vegeta]} / ${cpu_n[vegeta]}")
		row runner "attacker process CPU per request at $RATE_FIRST rps (mean of its trials): sim run / plain vegeta" \
			"$cs µs / $cv µs" "$(calc '%.2f× vegeta' "$cs / $cv")"
	else
		row runner "attacker process CPU per request at $RATE_FIRST rps" "not measured" ""
	fi
	section_end runner
}

# --- 3. Memory ------------------------------------------------------------------------------

memory() {
	section_begin "3. memory: sim run --topology split at $MEM_RATE rps for $MEM_S s, VmRSS every $MEM_EVERY_S s"
	local dir=$TMP/memory pid next=0 now t rss
	mkdir -p "$dir"
	cat >"$dir/steady.yaml" <<-EOF
		description: "bench/run.sh: hold $MEM_RATE rps for ${MEM_S}s (memory must stay flat)"
		stages:
		  - {duration: ${MEM_S}s, mode: hold, target: $MEM_RATE}
		$CLIENT_YAML
		recovery: {duration: 5s, interval: 500ms, timeout: 1s}
		server: {work_time: 10ms, max_threads: 200, max_per_route: 200, max_total: 200}
	EOF
	start "$dir/summary.json" "$dir/stderr" "$TMP/sim" run --topology split --profile "$dir/steady.yaml" --out "$dir/runs" --json
	pid=$BG
	local began=$EPOCHREALTIME limit=$((MEM_S + 60)) t0=$SECONDS
	: >"$dir/rss.tsv"
	while alive "$pid"; do
		now=$EPOCHREALTIME
		t=$(calc '%.1f' "$now - $began")
		if awk -v t="$t" -v n="$next" 'BEGIN { exit !(t >= n) }'; then
			if rss=$(rss_kb "$pid") && [[ -n $rss ]]; then
				printf '%s\t%s\n' "$t" "$rss" >>"$dir/rss.tsv"
				if ((next % 30 == 0)); then printf '  t %5.0f s  VmRSS %6.1f MB\n' "$t" "$(calc '%.1f' "$rss / 1024")"; fi
			fi
			next=$((next + MEM_EVERY_S))
		fi
		if ((SECONDS - t0 > limit)); then
			echo "run.sh: sim run ran over its $limit s bound; stopping it" >&2
			stop "$pid" || true
			break
		fi
		sleep 0.2
	done
	RC=0
	wait "$pid" 2>/dev/null || RC=$?
	forget "$pid"
	local verdict="no summary (exit $RC)"
	if jq -e . "$dir/summary.json" >/dev/null 2>&1; then
		verdict=$(jq -r '"\(.verdict), \(.requests) requests, \(.ok) OK, p99 \(.p99_ms) ms"' "$dir/summary.json")
	fi
	echo "run: $verdict"
	# at T: the sample closest to T seconds after sim run started.
	at() { awk -F'\t' -v T="$1" '{ d = $1 - T; if (d < 0) d = -d; if (best == "" || d < best) { best = d; v = $2; t = $1 } }
		END { if (v != "") printf "%.1f MB (t = %.0f s)", v / 1024, t; else print "no sample" }' "$dir/rss.tsv"; }
	local half=$((MEM_S / 2)) slope
	row memory "VmRSS of \`sim run\` at 30 s" "$(at 30)" ""
	if ((half != 30)); then row memory "VmRSS at $half s" "$(at "$half")" ""; fi
	row memory "VmRSS at $MEM_S s (end of load)" "$(at "$MEM_S")" ""
	# Least-squares slope of RSS over [MEM_FIT_FROM_S, MEM_S], in MB per minute.
	slope=$(awk -F'\t' -v a="$MEM_FIT_FROM_S" -v b="$MEM_S" '$1 >= a && $1 <= b + 1 {
			x = $1 / 60; y = $2 / 1024; n++; sx += x; sy += y; sxx += x * x; sxy += x * y }
		END { if (n > 2 && n * sxx != sx * sx) printf "%.2f", (n * sxy - sx * sy) / (n * sxx - sx * sx) }' "$dir/rss.tsv")
	local fit_min
	fit_min=$(calc '%g' "($MEM_S - $MEM_FIT_FROM_S) / 60")
	if [[ -z $slope ]]; then
		row memory "VmRSS slope over the last $fit_min min" "not measured" ""
		failed=1
	else
		# Flat: under 0.5 MB/min, i.e. less than 2 MB over the 4 minutes, against tens of MB
		# per minute if anything were kept per request at this rate.
		row memory "VmRSS slope over the last $fit_min min (least squares)" "$slope MB/min" \
			"$(awk -v s="$slope" 'BEGIN { print (s < 0.5 && s > -0.5) ? "flat (within ±0.5 MB/min)" : "GROWS" }')"
	fi
	row memory "the run" "$verdict" "$MEM_RATE rps × $MEM_S s, work_time 10ms$( ((quick)) && echo ', --quick')"
	section_end memory
}

# --- Run ------------------------------------------------------------------------------------

for s in $SECTIONS; do
	"$s"
done

echo
echo "## bench/run.sh — $began, wall time $((SECONDS - T0)) s$( ((quick)) && echo ' (--quick)')"
echo
echo "| section | measurement | result | compared |"
echo "| --- | --- | --- | --- |"
for r in "${rows[@]}"; do
	IFS='|' read -r a b c d <<<"$r"
	echo "| $a | $b | $c | $d |"
done
exit "$failed"
