#!/usr/bin/env bash
# bench/runtimes/lib.sh: what the four rigs share (sourced by <runtime>/run.sh, never run).
#
# A rig script defines rig_install, rig_start SELF|SPLIT, rig_page_url, rig_watch_ports and
# rig_events, then calls rig_main "$@". rig_main gives every rig the same modes:
#
#   install             apt-get the rig's Debian packages (idempotent: only what is missing)
#   ramp [N]            N x the uniform ramp (ramp.yaml: quick's 10->120 rps in 20 s, 120 s of probes)
#   split [N]           the same ramp on the split variant (the static page from a separate nginx)
#   quick               the built-in quick profile once (what rigs_test.go runs)
#   hold SEED...        steady Poisson holds (hold.yaml: 30 rps, 180 s, --stop-on-hang), one per seed
#   deadclients         40 requests at once whose clients leave after 0.5 s (split variant: no
#                       deadlock), then how many pages the runtime ran
#   mechanics           light checks of the mechanics table (no load): keep-alive after a
#                       response, connections per self-call, processes vs threads
#   serve [self|split]  start the rig and wait for Ctrl-C (for trying sim by hand)
#
# Every run: fresh ports in 31000-31999 (none with any socket on it), the runtime in its own
# session (setsid) stopped by pid (TERM to its process group, KILL after 10 s) on success, error,
# Ctrl-C and TERM, and a check with ps that nothing of it is left. While sim loads it, a sampler
# records every second (census.csv): server-side CLOSE_WAIT on each watched port, split into
# "held" (ss -p names a process: accepted, an fd of the app) and "in backlog" (no process: not
# accepted yet), the LISTEN socket's Recv-Q / Send-Q (accept queue / backlog), ESTABLISHED, and
# the socket fds the rig's processes hold (/proc/PID/fd). After sim's own probes the rig
# checks for itself: 3 requests to /page with curl -m 5 (its own verdict: answered or not).
# Beside sim, bench/hazard's stall watcher records the machine's worst and 99th-percentile
# lateness waking a 10 ms sleeper (stall_max_ms, stall_p99_ms in the row): a stall of the machine
# longer than ~0.5 s fills a 16-worker pool at 30 rps by itself.
#
# Environment: OUT=DIR (records; default a temp folder, printed), SIM=PATH (a built sim;
# default: built from this tree), RECOVERY=DURATION (ramp/split probe window, default 120s).
set -euo pipefail

rt_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
rt_root=$(cd "$rt_here/../.." && pwd)
address=127.0.0.1

rig_pids=()     # process-group leaders this rig started (setsid): stopped on every path
rig_tmp=$(mktemp -d "/tmp/rig-${RIG:?}.XXXXXX")
OUT=${OUT:-$rig_tmp/runs}
mkdir -p "$OUT"
sampler_pid=

say() { echo "[$RIG $(date -u +%H:%M:%S)] $*" >&2; }
die() { say "error: $*"; exit 3; }

# pick_port: a port in 31000-31999 that has no socket at all (no listener, no TIME_WAIT left by
# an earlier run), and that this rig has not taken yet.
taken_ports=" "
pick_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((31000 + RANDOM % 1000))
		[[ $taken_ports == *" $p "* ]] && continue
		if [[ -z $(ss -Htan "( sport = :$p or dport = :$p )" 2>/dev/null) ]]; then
			taken_ports+="$p "
			echo "$p"
			return
		fi
	done
	die "no free port in 31000-31999"
}

# spawn LOG CMD...: start CMD in its own session (its pid is the process group id), remember it.
spawn() {
	local log=$1
	shift
	# nice -n -5 as bench/hazard's socket runs: other sessions compile on the same 2 cores.
	setsid nice -n "${RIG_NICE:--5}" "$@" >>"$log" 2>&1 </dev/null &
	rig_pids+=("$!")
}

# stop_all: TERM every process group we started, KILL after 10 s, then check that no process
# of those groups is left (ps), and say so.
# split_static VARIANT DIR SELF_URL sets static_url, where the page fetches its static file
# from: SELF_URL (the runtime's own) for self; for split, a separate nginx on a fresh port.
# It sets the caller's variables (static_url, static_port), so call it directly, not in $(...).
split_static() {
	static_url=$3
	[[ $1 == split ]] || return 0
	static_port=$(pick_port)
	start_static_nginx "$2" "$static_port"
	static_url=http://$address:$static_port/static/page.html
	wait_http "$static_url" 20
}

# groups_gone TICKS: waits up to TICKS tenths of a second for every rig process group to be
# empty; false if some process is still alive then.
groups_gone() {
	local pg left
	for _ in $(seq 1 "$1"); do
		left=
		for pg in "${rig_pids[@]}"; do
			[[ -n $(ps -o pid= -g "$pg" 2>/dev/null) ]] && left=1
		done
		[[ -z $left ]] && return 0
		sleep 0.1
	done
	return 1
}

stop_all() {
	local pg
	[[ -n $sampler_pid ]] && { kill "$sampler_pid" 2>/dev/null || true; wait "$sampler_pid" 2>/dev/null || true; sampler_pid=; }
	((${#rig_pids[@]})) || return 0
	for pg in "${rig_pids[@]}"; do kill -TERM -- "-$pg" 2>/dev/null || true; done
	groups_gone 100 || true
	for pg in "${rig_pids[@]}"; do kill -KILL -- "-$pg" 2>/dev/null || true; done
	groups_gone 50 || true
	for pg in "${rig_pids[@]}"; do
		if [[ -n $(ps -o pid= -g "$pg" 2>/dev/null) ]]; then
			say "WARNING: processes of group $pg still alive: $(ps -o pid=,comm= -g "$pg" | tr '\n' ' ')"
		fi
	done
	say "stopped process groups ${rig_pids[*]}; ps -g shows none left"
	rig_pids=()
}
on_exit() {
	local rc=$?
	stop_all
	if [[ $OUT == "$rig_tmp"/* && -n $(ls -A "$OUT" 2>/dev/null) ]]; then
		rm -rf "$rig_tmp/build"
		say "records: $OUT"
	else
		rm -rf "$rig_tmp" # only the binaries and profiles of this run: the records are in OUT
	fi
	exit $rc
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_http URL [SECONDS]: until URL answers 200 (each try 2 s at most).
wait_http() {
	local url=$1 n=${2:-60}
	for _ in $(seq 1 $((n * 2))); do
		[[ $(curl -s -o /dev/null -m 2 -w '%{http_code}' "$url" || true) == 200 ]] && return 0
		for pg in "${rig_pids[@]}"; do kill -0 "$pg" 2>/dev/null || die "process $pg exited before $url answered"; done
		sleep 0.5
	done
	die "$url did not answer 200 within $n s"
}

# rig_group_pids: every pid in the process groups we started.
rig_group_pids() {
	local pg
	for pg in "${rig_pids[@]}"; do ps -o pid= -g "$pg" 2>/dev/null || true; done | tr -d ' '
}

# census PORT: one line: close_wait held_by_app in_backlog listen_recvq listen_backlog established
census() {
	local port=$1 cw held q
	cw=$(ss -Htanp state close-wait "( sport = :$port )" 2>/dev/null)
	held=$(grep -c 'users:' <<<"$cw" || true)
	q=$(ss -Hltn "( sport = :$port )" 2>/dev/null | awk '{ r += $2; s = $3 } END { printf "%d %d", r, s }')
	printf '%d %d %d %s %d' "$(grep -c . <<<"$cw" || true)" "$held" $(( $(grep -c . <<<"$cw" || true) - held )) "$q" \
		"$(ss -Htan state established "( sport = :$port )" 2>/dev/null | wc -l)"
}

# sampler FILE PORT...: every second, one CSV row per watched port; stops when killed.
sampler() {
	local file=$1 t0 pids fds p
	shift
	# A failed ss or find (a process that exits between ps and /proc, a netlink dump cut short
	# under load) must not end the sampler: no errexit here, every row is best effort.
	set +e
	t0=$(date +%s.%N)
	echo "t_s,port,close_wait,cw_held_by_app,cw_in_backlog,listen_recvq,listen_backlog,established,app_socket_fds,app_procs" >"$file"
	while :; do
		pids=$(rig_group_pids)
		fds=0
		for p in $pids; do
			fds=$((fds + $(find "/proc/$p/fd" -lname 'socket:*' 2>/dev/null | wc -l)))
		done
		for p in "$@"; do
			echo "$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.1f", a - b }'),$p,$(census "$p" | tr ' ' ','),$fds,$(wc -w <<<"$pids")" >>"$file"
		done
		sleep 1
	done
}

build_sim() {
	mkdir -p "$rig_tmp/build"
	if [[ -z ${SIM:-} ]]; then
		(cd "$rt_root" && go build -o "$rig_tmp/build/sim" ./cmd/sim) || die "go build ./cmd/sim"
		SIM=$rig_tmp/build/sim
	fi
	# bench/hazard's stall watcher: how late the machine woke a 10 ms sleeper during the run.
	if [[ -z ${HAZARD:-} ]]; then
		(cd "$rt_root" && go build -o "$rig_tmp/build/hazard" ./bench/hazard) || die "go build ./bench/hazard"
		HAZARD=$rig_tmp/build/hazard
	fi
}

# warm_up URL: 32 pages, 4 at a time (far from 16 at once: no deadlock), so that every worker
# has served a page and imported what its first call needs before the load (as the Tomcat rig
# compiles its JSP first).
warm_up() {
	local url=$1 bad=0
	local cpids
	for _ in $(seq 1 8); do
		cpids=()
		for _ in 1 2 3 4; do
			(curl -s -o /dev/null -m 10 -w '%{http_code}\n' "$url" || true) &
			cpids+=("$!")
		done
		wait "${cpids[@]}" # not a bare wait: that would wait for the rig's own processes too
	done >"$rig_tmp/warm.txt"
	bad=$(grep -vc '^200$' "$rig_tmp/warm.txt" || true)
	((bad == 0)) || die "warm-up: $bad of 32 pages did not answer 200 ($(sort "$rig_tmp/warm.txt" | uniq -c | tr '\n' ' '))"
}

# own_check URL: the rig's own verdict after the load: does /page answer (3 tries, 5 s each)?
own_check() {
	local url=$1 ok=0 code
	for _ in 1 2 3; do
		code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' "$url" || true)
		[[ $code == 200 ]] && ok=$((ok + 1))
	done
	echo "$ok"
}

# load_run NAME VARIANT PROFILE [SIM FLAGS...]: start the rig (VARIANT self|split), run sim run
# --target with PROFILE while sampling, check for itself, stop, and print one JSON line.
load_run() {
	local name=$1 variant=$2 profile=$3
	shift 3
	local dir=$OUT/$name
	mkdir -p "$dir"
	build_sim
	rig_start "$variant" "$dir"
	local url
	url=$(rig_page_url)
	warm_up "$url"
	say "$name: $variant rig up, page $url (pids ${rig_pids[*]}; load average $(cut -d' ' -f1-3 /proc/loadavg))"
	sampler "$dir/census.csv" $(rig_watch_ports) &
	sampler_pid=$!
	# The stall watcher, at the rig's nice level, for as long as sim runs.
	nice -n "${RIG_NICE:--5}" "$HAZARD" -stalls "$dir/stalls.txt" &
	local watcher=$!
	local t0 rc=0 watch=()
	# A rig whose pile sits behind a front proxy (PHP-FPM behind nginx) names the port where it
	# sits (rig_sim_watch_port): sim samples that port, not the target's (nginx's), which has
	# none.
	if declare -F rig_sim_watch_port >/dev/null; then
		watch=(--watch-port "$(rig_sim_watch_port)")
	fi
	t0=$(date +%s)
	timeout --kill-after=15s 900s "$SIM" run --target "$url" --profile "$profile" --out "$dir" --json "${watch[@]}" "$@" \
		>"$dir/summary-stdout.json" 2>"$dir/sim.err" || rc=$?
	local t_sim=$(( $(date +%s) - t0 ))
	kill -TERM "$watcher" 2>/dev/null && wait "$watcher" 2>/dev/null || true
	local stalls=("" "")
	read -r -a stalls <"$dir/stalls.txt" 2>/dev/null || stalls=("" "")
	local own
	own=$(own_check "$url")
	sleep 1
	kill "$sampler_pid" 2>/dev/null || true
	wait "$sampler_pid" 2>/dev/null || true
	sampler_pid=
	local final
	final=$(for p in $(rig_watch_ports); do echo "$p:$(census "$p" | tr ' ' '/')"; done | tr '\n' ' ')
	local events
	events=$(rig_events "$dir")
	stop_all
	rig_collect "$dir" 2>/dev/null || true
	[[ $rc == 0 ]] || { say "sim run exited $rc: $(tail -3 "$dir/sim.err")"; }
	local verdict_line
	verdict_line=$(grep -m1 -i 'verdict\|hang\|saturated\|ok' "$dir/sim.err" || true)
	jq -c --arg name "$name" --arg rig "$RIG" --arg variant "$variant" --arg own "$own/3" --arg final "$final" \
		--arg url "$url" --arg ports "$(rig_watch_ports)" --arg smax "${stalls[0]:-}" --arg sp99 "${stalls[1]:-}" \
		--argjson events "${events:-{\}}" --arg t "$t_sim" --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" \
		'{rig: $rig, run: $name, variant: $variant, page_url: $url, ports: $ports, verdict, onset_rate_rps, hang_onset_s, hang_after_stage_start_s,
		  collapse_onset_s, capacity_rps, peak_close_wait, recovered, recovery_s, requests, ok, stopped_on_hang,
		  stall_max_ms: (if $smax == "" then null else ($smax|tonumber) end), stall_p99_ms: (if $sp99 == "" then null else ($sp99|tonumber) end),
		  own_answered_after: $own, final_census: $final, events: $events, sim_wall_s: $t, load_after: $load,
		  record_dir}' "$dir/summary-stdout.json" | tee -a "$OUT/rows.jsonl"
}

# peak_from_census FILE PORT: peak CLOSE_WAIT on PORT and, at that moment, held / in backlog / Recv-Q.
peak_from_census() {
	awk -F, -v p="$2" 'NR > 1 && $2 == p && $3 >= m { m = $3; line = $0 } END { print line }' "$1"
}

rig_main() {
	local mode=${1:-}
	shift || true
	case $mode in
	install) rig_install ;;
	ramp | split)
		local n=${1:-1} i
		[[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 10)) || { echo "$RIG/run.sh $mode: N must be 1..10, got '$n'" >&2; exit 2; }
		rig_check_installed
		sed -E "s/^  duration: 120s # recovery/  duration: ${RECOVERY:-120s} # recovery/" "$rt_here/ramp.yaml" >"$rig_tmp/ramp.yaml"
		for i in $(seq 1 "$n"); do
			load_run "$mode$i" "$([[ $mode == ramp ]] && echo self || echo split)" "$rig_tmp/ramp.yaml"
		done
		;;
	quick)
		rig_check_installed
		load_run quick self quick
		;;
	hold)
		(($#)) || set -- 1 2 3 4 5
		local s
		for s in "$@"; do
			[[ $s =~ ^[0-9]+$ ]] || { echo "$RIG/run.sh hold: a seed is a whole number, got '$s'" >&2; exit 2; }
		done
		rig_check_installed
		for s in "$@"; do
			sed -E "s/^seed:.*/seed: $s/" "$rt_here/hold.yaml" >"$rig_tmp/hold-s$s.yaml"
			load_run "hold-s$s" self "$rig_tmp/hold-s$s.yaml" --stop-on-hang
		done
		;;
	deadclients)
		rig_check_installed
		deadclients
		;;
	mechanics)
		rig_check_installed
		mechanics
		;;
	serve)
		rig_check_installed
		rig_start "${1:-self}" "$OUT/serve"
		say "serving: $(rig_page_url) (Ctrl-C stops it)"
		# sleep in the background and wait: bash runs the INT/TERM trap (which stops the rig) at once
		while :; do sleep 3600 & wait $!; done
		;;
	*)
		echo "usage: $RIG/run.sh install | ramp [N] | split [N] | quick | hold [SEED...] | deadclients | mechanics | serve [self|split]" >&2
		exit 2
		;;
	esac
}

# deadclients: the split variant (no self-call deadlock: the static page is nginx's), 160
# requests at once, each client gone after 0.5 s (curl -m 0.5); 16 workers x ~250 ms serve about
# 32 before then, the rest wait in the backlog or queue while their client leaves. 15 s later,
# count the pages the runtime started (pages.log) and those it started more than 1 s after the
# burst began (its client had certainly gone: curl_wall_s shows the burst's own length): ~160 and ~120 = it runs requests whose client left;
# ~32-48 and ~0 = it drops them.
deadclients() {
	local dir=$OUT/deadclients
	mkdir -p "$dir"
	rig_start split "$dir"
	local url
	url=$(rig_page_url)
	warm_up "$url"
	local before t0 args=()
	before=$(rig_pages_started "$dir")
	for _ in $(seq 1 160); do args+=(-o /dev/null "$url"); done
	t0=$(date +%s.%N)
	# One curl, 160 transfers at once (--parallel), each given up after 0.5 s.
	curl -s -Z --parallel-max 200 --parallel-immediate -m 0.5 "${args[@]}" || true
	local t1
	t1=$(date +%s.%N)
	sleep 15
	local after late
	after=$(rig_pages_started "$dir")
	late=$(awk -v t="$t0" '$1 == "start" && $3 > t + 1.0' "$dir/pages.log" | wc -l)
	stop_all
	jq -cn --arg rig "$RIG" --argjson s $((after - before)) --argjson late "$late" \
		--arg spawn "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')" \
		'{rig: $rig, run: "deadclients", sent: 160, client_timeout_s: 0.5, curl_wall_s: ($spawn|tonumber), pages_started: $s, pages_started_1s_after_burst: $late}' | tee -a "$OUT/rows.jsonl"
}

# start_static_nginx DIR PORT: the split variant's static server, Debian's nginx serving
# simulator/static/page.html at /static/page.html on 127.0.0.1:PORT (its own process group).
start_static_nginx() {
	local dir=$1 port=$2
	mkdir -p "$dir/static-nginx/static" "$dir/static-nginx/logs"
	cp "$rt_root/simulator/static/page.html" "$dir/static-nginx/static/page.html"
	cat >"$dir/static-nginx/nginx.conf" <<NGINX
# The split variant's static server (generated by bench/runtimes/lib.sh).
user root;
worker_processes 1;
pid $dir/static-nginx/nginx.pid;
error_log $dir/static-nginx/logs/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    types { text/html html; }
    server {
        listen $address:$port backlog=511;
        root $dir/static-nginx;
    }
}
NGINX
	spawn "$dir/static-nginx/logs/stdout.log" nginx -c "$dir/static-nginx/nginx.conf" -g 'daemon off;'
}

# need_pkgs PKG...: exit 2 naming the Debian packages that are not installed.
need_pkgs() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	if ((${#missing[@]})); then
		echo "$RIG/run.sh: missing Debian packages: ${missing[*]} (bash bench/runtimes/$RIG/run.sh install)" >&2
		exit 2
	fi
}

# apt_install PKG...: install what is missing (idempotent), waiting for another apt's lock.
apt_install() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	if ((${#missing[@]} == 0)); then say "installed already: $*"; return 0; fi
	local t0=$SECONDS
	[[ -n $(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1) ]] || apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}"
	say "installed ${missing[*]} in $((SECONDS - t0)) s"
}

# mechanics: the cells of the issue's mechanics table that need no load, on the self variant.
#  - connection after a response: two requests for the static page on one curl connection;
#    curl says "Re-using existing connection" (keep-alive) or reconnects (closed);
#  - the self-call client: 10 pages one after another (curl, keep-alive); the sockets on the
#    app's port(s) that appear meanwhile (any state, both sides, by address pair) are the
#    connections opened: 10 outer pages on one kept-alive connection + 10 self-calls each on a
#    new connection = 11; a pooling client would add 1-2 instead of 10;
#  - the unit of the pool: the rig's processes and their threads (ps).
mechanics() {
	local dir=$OUT/mechanics
	mkdir -p "$dir"
	rig_start self "$dir"
	local url static p
	url=$(rig_page_url)
	static=${url%/page}/static/page.html
	{
		echo "== curl -sv $static $static (one curl, keep-alive asked):"
		curl -sv -o /dev/null -o /dev/null "$static" "$static" 2>&1 | grep -E '^\* (Re-using|Connected to|Closing)|^< (Connection|connection|Keep-Alive)' || true
		local args=()
		for _ in $(seq 1 10); do args+=(-o /dev/null "$url"); done
		for p in $(rig_watch_ports); do ss -Htan "( sport = :$p or dport = :$p )" | awk '{ print $4, $5 }' | sort -u >"$dir/before-$p"; done
		echo "== 10 pages, one curl: $(curl -s -w '%{http_code} ' "${args[@]}")"
		sleep 0.5
		for p in $(rig_watch_ports); do
			ss -Htan "( sport = :$p or dport = :$p )" | awk '{ print $4, $5, $1 }' | sort -u >"$dir/after-$p"
			echo "== port $p: connections opened during the 10 pages (address pairs not there before), by state and side:"
			awk -v p=":$p" 'NR == FNR { seen[$1 " " $2] = 1; next } !(($1 " " $2) in seen) { side = ($1 ~ p "$") ? "server" : "client"; n[$3 " " side]++; t++ } END { for (k in n) printf "   %s-side %s: %d\n", substr(k, index(k, " ") + 1), substr(k, 1, index(k, " ") - 1), n[k]; printf "   total new sockets (a connection has 2 on loopback when both ends are still open): %d\n", t }' "$dir/before-$p" "$dir/after-$p"
		done
		echo "== processes and threads of the rig (ps -o nlwp):"
		for pg in "${rig_pids[@]}"; do ps -o pid=,nlwp=,comm= -g "$pg"; done | awk '{ n++; t += $2; c[$3]++ } END { printf "   %d processes, %d threads;", n, t; for (k in c) printf " %s x%d", k, c[k]; print "" }'
	} | tee "$dir/mechanics.txt"
	stop_all
}
