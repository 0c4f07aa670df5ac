#!/usr/bin/env bash
# bench/selfcall/run.sh: the self-call warning of `sim watch` (issue 18) on real sockets. Runs
# sim's app (16 workers x 200 ms, Little's bound 80 rps) and reads, from each run record's
# timeline, when the warning rule would have fired — the first load window whose census saw a
# self-call waiting for at least the threshold (selfcall_oldest_wait_ms) — against the collapse
# onset. Two rules, each evaluated here for several thresholds from one run (the census records
# the figures, not only the agent's own yes/no):
#   wait  a self-call has waited at least THRESHOLD ms for its answer (selfcall_oldest_wait_ms)
#   pool  the app has been seen calling itself and the requests it holds unanswered on its port
#         (port_requests_in_flight, from the sockets) reach FRACTION of its 16 workers
#   peak  the same on the most requests held at once since the census before
#         (port_requests_in_flight_peak: the agent's pool rule)
#
#   bash bench/selfcall/run.sh [SCENARIO...]     # default: ramp fixes agent poisson steady
#
# Scenarios:
#   ramp     self on the quick ramp (10 -> 120 rps in 20 s), RUNS times: the warning's lead
#   agent    the same through the agent path: sim serve, sim watch beside it, sim run --target
#            --watch; prints the agent's "self-call seen" line and the run's verdict
#   fixes    split, bulkhead, inproc and async on the quick ramp: the warning must never fire
#   poisson  self under Poisson 30 rps held up to 10 min, seeds 1..RUNS, stopped at the hang:
#            how many runs warned before the onset, and the leads
#   steady   self under an even 56 rps (70 % of the bound) for 10 min: no warning, no hang
#   rigs     the agent beside the real runtimes' self variants (RIGS="puma jetty"; gunicorn and
#            php-fpm too, the latter watched on nginx's port with --upstream FPM's port):
#            the self-call line, the verdict, the lead (bench/runtimes must be installed)
#
# Environment:
#   RUNS=3               runs per scenario (ramp, poisson)
#   SEEDS="1 2 3"        the poisson scenario's seeds (default 1..RUNS)
#   THRESHOLDS="100 250 500"   wait-warning thresholds in ms (250 is sim watch's default)
#   FRACTIONS="0.8125 0.875 0.9375"  pool-warning shares of the 16 workers (0.875 is the default)
#   STEADY_RATE=56       the steady scenario's rate, rps (56: 70 % of the bound)
#   OUT=DIR              where records go (default: a temp folder, kept and printed)
#   AGENT_TOPOLOGY=self  the topology sim serve runs in the agent scenario (async: the pool rule
#                        turning itself off)
#
# The machine's load average is printed with each run: these 2 cores are shared, and a busy
# machine delays the server and moves onsets. Every process is started in its own session and
# stopped by pid (TERM, then KILL) on every path; every load is bounded by its profile and a
# timeout. Exit status: 0 all runs measured, 1 a run failed, 2 setup error.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
scenarios=("$@")
(( ${#scenarios[@]} )) || scenarios=(ramp fixes agent poisson steady)
for s in "${scenarios[@]}"; do
	case $s in ramp | agent | fixes | poisson | steady | rigs) ;; *)
		echo "run.sh: unknown scenario '$s' (allowed: ramp agent fixes poisson steady rigs)" >&2; exit 2 ;;
	esac
done
RUNS=${RUNS:-3}
THRESHOLDS=${THRESHOLDS:-100 250 500}
FRACTIONS=${FRACTIONS:-0.8125 0.875 0.9375}
WORKERS=${WORKERS:-16} # the profiles' max_threads (the pool warning; a rig whose connector leases threads, Jetty, serves pages on fewer)
case $RUNS in '' | *[!0-9]* | 0) echo "run.sh: RUNS is a whole number >= 1, got '$RUNS'" >&2; exit 2 ;; esac
for s in ${SEEDS:-}; do
	case $s in *[!0-9]*) echo "run.sh: SEEDS are whole numbers, got '$s'" >&2; exit 2 ;; esac
done
case ${STEADY_RATE:-56} in '' | *[!0-9]* | 0) echo "run.sh: STEADY_RATE is a whole number of rps >= 1, got '$STEADY_RATE'" >&2; exit 2 ;; esac
for t in $THRESHOLDS; do
	case $t in '' | *[!0-9]*) echo "run.sh: THRESHOLDS are whole milliseconds, got '$t'" >&2; exit 2 ;; esac
done
for f in $FRACTIONS; do
	[[ $f =~ ^(0(\.[0-9]+)?|1(\.0+)?)$ ]] || { echo "run.sh: FRACTIONS are shares from 0 to 1, got '$f'" >&2; exit 2; }
done
for tool in go jq awk setsid timeout curl; do
	command -v "$tool" >/dev/null || { echo "run.sh: needs $tool" >&2; exit 2; }
done

TMP=$(mktemp -d /tmp/bench-selfcall.XXXXXX)
OUT=${OUT:-$TMP/runs}
mkdir -p "$OUT"
pids=()
stop_all() {
	local p
	for p in "${pids[@]}"; do
		kill -TERM -- "-$p" 2>/dev/null || true
	done
	# Up to 30 s each: a rig's script stops its runtime (own session) on TERM and waits up to
	# 10 s for it before a KILL; killing the script sooner would orphan the runtime.
	for p in "${pids[@]}"; do
		for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL -- "-$p" 2>/dev/null || true
	done
	pids=()
}
trap 'stop_all; rm -f "$TMP/sim"' EXIT
trap 'exit 130' INT TERM

if ! (cd "$root" && go build -o "$TMP/sim" ./cmd/sim) 2>"$TMP/build.err"; then
	echo "run.sh: the working tree does not build:" >&2
	head -5 "$TMP/build.err" >&2
	exit 2
fi

# analyze DIR: one line per threshold: the first load window whose census saw a self-call
# waiting at least that long — at the window's end (t_s), when the census was taken and the
# warning could be known — and its lead on the collapse onset (onset - warning, s; negative:
# after; the onset is the start of the first collapsed window, so a warning seen in the onset
# window's own census has lead -window). Also the first window with a client timeout: what a
# user's error alert would see first. Columns of timeline.csv are found by name.
analyze() {
	local dir=$1 onset
	onset=$(jq -r '.collapse_onset_s // "none"' "$dir/summary.json")
	awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		$col["phase"] != "load" { next }
		{ n++ }
		$col["selfcall_measured"] == "true" { m++; if ($col["selfcall_sockets"] + 0 > peak) peak = $col["selfcall_sockets"] + 0 }
		!t && $col["err_timeout"] + 0 > 0 { t = $col["t_s"] }
		END {
			printf "  self-calls measured in %d of %d load windows, at most %d self-call sockets; ", m, n, peak
			if (t) printf "first client timeout in the window ending %.2f s\n", t; else print "no client timeout"
		}' "$dir/timeline.csv"
	# The census's own warning (selfcall_warning: the rules with the defaults the run's census
	# had; sim run gives sim's app's census its max_threads, except for an async app).
	awk -F, -v onset="$onset" '
		NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		$col["phase"] != "load" || $col["selfcall_measured"] != "true" { next }
		!found && $col["selfcall_warning"] == "true" { found = 1; w = $col["t_s"] }
		END {
			if (!found) { print "  census warning: never"; exit }
			if (onset == "none") { printf "  census warning: FIRED at %.2f s, no collapse (false alarm)\n", w; exit }
			printf "  census warning: at %.2f s, onset %.2f s: lead %+.2f s\n", w, onset, onset - w
		}' "$dir/timeline.csv"
	# The pool rule on the requests in flight at each census (snapshot, the rule before) and on
	# the peak since the census before (the agent's rule; records before it have no such
	# column and print nothing for it).
	local f c
	for c in port_requests_in_flight port_requests_in_flight_peak; do
		head -1 "$dir/timeline.csv" | tr ',' '\n' | grep -qx "$c" || continue
		for f in $FRACTIONS; do
			awk -F, -v frac="$f" -v workers="$WORKERS" -v onset="$onset" -v c="$c" '
				NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
				$col["phase"] != "load" || $col["selfcall_measured"] != "true" { next }
				$col["selfcall_sockets"] + 0 > 0 { seen = 1 }
				{ if ($col[c] + 0 > max) max = $col[c] + 0 }
				!found && seen && $col[c] + 0 >= frac * workers { found = 1; w = $col["t_s"] }
				END {
					need = frac * workers
					name = c == "port_requests_in_flight" ? "pool" : "peak"
					if (!found) { printf "  %s>=%g: never (most requests in flight in load %d)\n", name, need, max; exit }
					if (onset == "none") { printf "  %s>=%g: FIRED at %.2f s, no collapse (false alarm)\n", name, need, w; exit }
					printf "  %s>=%g: at %.2f s, onset %.2f s: lead %+.2f s\n", name, need, w, onset, onset - w
				}' "$dir/timeline.csv"
		done
	done
	for t in $THRESHOLDS; do
		awk -F, -v thr="$t" -v onset="$onset" '
			NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
			$col["phase"] != "load" || $col["selfcall_measured"] != "true" { next }
			{ if ($col["selfcall_oldest_wait_ms"] + 0 > max) max = $col["selfcall_oldest_wait_ms"] + 0 }
			!found && $col["selfcall_oldest_wait_ms"] + 0 >= thr { found = 1; w = $col["t_s"] }
			END {
				if (!found) { printf "  warn>=%sms: never (oldest wait in load %d ms)\n", thr, max; exit }
				if (onset == "none") { printf "  warn>=%sms: FIRED at %.2f s, no collapse (false alarm)\n", thr, w; exit }
				printf "  warn>=%sms: at %.2f s, onset %.2f s: lead %+.2f s\n", thr, w, onset, onset - w
			}' "$dir/timeline.csv"
	done
}

fail=0 n=0
# run TAG PROFILE TOPOLOGY [sim run flags...]: one run of sim's own app, its summary and analysis.
run() {
	local tag=$1 profile=$2 topo=$3
	shift 3
	n=$((n + 1))
	local dir=$OUT/$n-$tag load
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	mkdir -p "$dir"
	if ! (cd "$root" && timeout --foreground --kill-after=15s 900s "$TMP/sim" run --topology "$topo" --profile "$profile" \
		--out "$dir" "$@" >"$dir/out.txt" 2>&1); then
		echo "$tag: sim run failed:" >&2
		tail -5 "$dir/out.txt" >&2
		fail=1
		return
	fi
	local rec
	rec=$(find "$dir" -mindepth 1 -maxdepth 1 -type d | head -1)
	echo "$tag ($topo, load before $load): $(grep '^sim run:' "$dir/out.txt" | sed 's/^sim run: //')"
	grep -E '^  hang onset' "$dir/out.txt" || true
	analyze "$rec"
}

ramp() {
	local i
	for i in $(seq "$RUNS"); do run "ramp$i" quick self; done
}

fixes() {
	local t
	for t in split bulkhead inproc async; do run "fix-$t" quick "$t"; done
}

poisson() {
	local s
	for s in ${SEEDS:-$(seq "$RUNS")}; do
		mkdir -p "$TMP/seed$s"
		sed -E "s/^seed:.*/seed: $s/" "$here/poisson-hold.yaml" >"$TMP/seed$s/poisson-hold.yaml"
		grep -q "^seed: $s\$" "$TMP/seed$s/poisson-hold.yaml" || { echo "run.sh: could not set the seed" >&2; exit 2; }
		run "poisson-seed$s" "$TMP/seed$s/poisson-hold.yaml" self --stop-on-hang
	done
}

steady() {
	# STEADY_RATE: another steady rate in a copy of the profile (the name stays steady-uniform).
	local rate=${STEADY_RATE:-56}
	mkdir -p "$TMP/steady$rate"
	sed -E "s/target: 56\}/target: $rate}/" "$here/steady-uniform.yaml" >"$TMP/steady$rate/steady-uniform.yaml"
	grep -q "target: $rate}" "$TMP/steady$rate/steady-uniform.yaml" || { echo "run.sh: could not set the rate" >&2; exit 2; }
	run "steady$rate" "$TMP/steady$rate/steady-uniform.yaml" self
}

# wait_line FILE PREFIX: the rest of the first line of FILE starting with PREFIX, within 20 s.
wait_line() {
	local i
	for i in $(seq 200); do
		if grep -q "^$2" "$1" 2>/dev/null; then grep -m1 "^$2" "$1" | cut -d' ' -f2; return 0; fi
		sleep 0.1
	done
	return 1
}

agent() {
	n=$((n + 1))
	local dir=$OUT/$n-agent app agent port
	mkdir -p "$dir"
	setsid "$TMP/sim" serve --topology "${AGENT_TOPOLOGY:-self}" --max-threads 16 --work-time 200ms --addr 127.0.0.1:0 >"$dir/serve.txt" 2>&1 &
	pids+=($!)
	app=$(wait_line "$dir/serve.txt" "app ") || { echo "agent: sim serve did not start" >&2; cat "$dir/serve.txt" >&2; fail=1; stop_all; return; }
	port=${app##*:}
	setsid "$TMP/sim" watch --port "$port" --workers "$WORKERS" --interval 250ms >"$dir/watch.txt" 2>&1 &
	pids+=($!)
	agent=$(wait_line "$dir/watch.txt" "watch ") || { echo "agent: sim watch did not start" >&2; cat "$dir/watch.txt" >&2; fail=1; stop_all; return; }
	echo "agent: ${AGENT_TOPOLOGY:-self} app $app, agent $agent (default --warn-after, --workers $WORKERS), load before $(cut -d' ' -f1-3 /proc/loadavg)"
	if ! (cd "$root" && timeout --foreground --kill-after=15s 300s "$TMP/sim" run --target "$app/page" --watch "$agent" --profile quick \
		--out "$dir" >"$dir/out.txt" 2>&1); then
		echo "agent: sim run failed:" >&2
		tail -5 "$dir/out.txt" >&2
		fail=1
	fi
	grep -E '^(self-call seen|pool rule off)' "$dir/watch.txt" | sed "s/^/  agent printed: /" || echo "  agent printed: (no self-call line)"
	echo "  $(grep '^sim run:' "$dir/out.txt" | sed 's/^sim run: //')"
	grep -E '^  hang onset' "$dir/out.txt" || true
	curl -fsS "$agent/metrics" 2>/dev/null | grep -E '^sim_(selfcall_(waiting|warning|wait_warning|pool_warning|pool_rule_off|warning_samples_total|connections\{.*established)|requests_in_flight)' | sed 's/^/  /' || true
	stop_all
	local rec
	rec=$(find "$dir" -mindepth 1 -maxdepth 1 -type d | head -1)
	[[ -n $rec ]] && analyze "$rec"
}

# rigs: sim watch beside the real runtimes of bench/runtimes (RIGS, default "puma jetty"): each
# rig serves its self variant (bench/runtimes/RIG/run.sh serve self, in its own session), sim
# watch watches its port with --workers 16 and the census every 250 ms, and sim run --target
# --watch drives the quick ramp through it; the agent's lines, the verdict and the warning's
# lead on the onset are printed as for the agent scenario.
rigs() {
	local rig
	for rig in ${RIGS:-puma jetty}; do
		case $rig in gunicorn | puma | jetty | php-fpm) ;; *)
			echo "run.sh: RIGS names gunicorn, puma, jetty or php-fpm, got '$rig'" >&2; fail=1; continue ;;
		esac
		n=$((n + 1))
		local dir=$OUT/$n-rig-$rig url agent port i
		mkdir -p "$dir"
		# PHP-FPM with pm = static: 16 children from the start, the pool --workers names (the
		# rig's default, Debian's dynamic, grows one child a second from 2).
		FPM_PM=static OUT=$dir/rig SIM=$TMP/sim setsid bash "$root/bench/runtimes/$rig/run.sh" serve self >"$dir/rig.txt" 2>&1 &
		pids+=($!)
		url=
		for i in $(seq 600); do # Jetty's first start compiles its pages: up to a minute
			url=$(grep -m1 -o 'serving: http://[^ ]*' "$dir/rig.txt" 2>/dev/null | cut -d' ' -f2) && [[ -n $url ]] && break
			kill -0 "${pids[-1]}" 2>/dev/null || break
			sleep 0.1
		done
		if [[ -z $url ]]; then
			echo "rig $rig: did not start:" >&2
			tail -5 "$dir/rig.txt" >&2
			fail=1
			stop_all
			continue
		fi
		port=${url#http://*:}
		port=${port%%/*}
		local up=()
		if [[ $rig == php-fpm ]]; then
			# The page's URL is nginx's; FPM listens on the port in the rig's generated config.
			up=(--upstream "$(sed -n 's/^listen = .*:\([0-9]*\)$/\1/p' "$dir/rig/serve/php-fpm.conf")")
		fi
		setsid "$TMP/sim" watch --port "$port" "${up[@]}" --workers "$WORKERS" --interval 250ms >"$dir/watch.txt" 2>&1 &
		pids+=($!)
		agent=$(wait_line "$dir/watch.txt" "watch ") || { echo "rig $rig: sim watch did not start" >&2; cat "$dir/watch.txt" >&2; fail=1; stop_all; continue; }
		# An agent beside a live app has seen it call itself long before a burst; one started
		# with the load may not have: a client that opens a connection per call (requests,
		# curl, Net::HTTP) holds its self-call's sockets for a few milliseconds, between two
		# censuses, and the pool rule waits for a first self-call seen. So, like the app's
		# everyday traffic, pages 8 at a time until the agent prints its line (at most 40
		# rounds), before the load.
		local warm=0
		while ! grep -q '^self-call seen' "$dir/watch.txt" && ((warm < 320)); do
			local curls=()
			for _ in $(seq 8); do
				curl -s -o /dev/null -m 5 "$url" &
				curls+=($!)
			done
			wait "${curls[@]}" # only these: a bare wait would wait for the rig and the agent
			warm=$((warm + 8))
		done
		echo "rig $rig: page $url, agent $agent (${up[*]} --workers $WORKERS), $warm warm-up pages until the agent saw a self-call, load before $(cut -d' ' -f1-3 /proc/loadavg)"
		if ! (cd "$root" && timeout --foreground --kill-after=15s 300s "$TMP/sim" run --target "$url" --watch "$agent" --profile quick \
			--out "$dir" >"$dir/out.txt" 2>&1); then
			echo "rig $rig: sim run failed:" >&2
			tail -5 "$dir/out.txt" >&2
			fail=1
		fi
		grep -E '^(self-call seen|pool rule off)' "$dir/watch.txt" | sed "s/^/  agent printed: /" || echo "  agent printed: (no self-call line)"
		echo "  $(grep '^sim run:' "$dir/out.txt" | sed 's/^sim run: //')"
		grep -E '^  hang onset' "$dir/out.txt" || true
		curl -fsS "$agent/metrics" 2>/dev/null | grep -E '^sim_(selfcall_(waiting|waiting_accept_queue|waiting_unread|warning|callers|processes)|requests_in_flight)\b' | sed 's/^/  /' || true
		stop_all
		local rec
		rec=$(find "$dir" -mindepth 1 -maxdepth 1 -type d -name '2*' | head -1)
		[[ -n $rec ]] && analyze "$rec"
	done
}

echo "bench/selfcall — $(date -u '+%Y-%m-%d %H:%M:%S UTC') — $(nproc) cores; records: $OUT"
echo "uptime: $(uptime)"
start=$SECONDS
for s in "${scenarios[@]}"; do
	echo
	echo "== $s =="
	"$s"
done
echo
echo "wall clock: $((SECONDS - start)) s; load now $(cut -d' ' -f1-3 /proc/loadavg)"
exit $fail
