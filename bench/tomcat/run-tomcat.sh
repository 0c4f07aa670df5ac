#!/usr/bin/env bash
# bench/tomcat/run-tomcat.sh: measure real Tomcat 10.1 under bench/tomcat/profile.yaml, the
# reference that `sim run --topology self` is held to (issue 5).
#
#   bash bench/tomcat/run-tomcat.sh [N]       # N runs, default 1 (about 90 s each)
#
# Per run it starts a PRIVATE Tomcat (never the system service): a fresh CATALINA_BASE in a temp
# folder with bench/tomcat/base/conf/server.xml (NIO on 127.0.0.1:PORT, maxThreads 200,
# acceptCount 100, maxConnections 8192, shutdown port disabled), the webapp /app with page.jsp
# (1 s of work, then HttpURLConnection to its own /app/static/page.html, no timeouts) and the
# static file; warms the JSP up (its first request compiles it); drives the profile's ramp with
# bench/tomcat/ramp (sim's vegeta pacer, socket sampler and detector); saves a thread dump; then
# stops Tomcat, checks that nothing listens on the port any more, and prints a table.
#
# Environment:
#   PORT=18080     first port; run i uses PORT + 2*(i-1) (a fresh port, as sim uses per run)
#   WATCH=1        also run `sim watch --port PORT` beside Tomcat during the ramp (issue 18): its
#                  output (the "self-call seen" line) and its last /census go into the record as
#                  watch.txt and census.json
#   OUT=DIR        where records go (default: a temp folder, kept and printed)
#   PROFILE=FILE   another sim load profile (default bench/tomcat/profile.yaml; for smoke tests)
#   JAVA_OPTS=...  extra JVM options (GC and safepoint pauses are always logged to gc.log in the
#                  record, with UTC times, to line them up with timeline.csv)
#
# Tomcat comes from Debian's tomcat10-common (installed here if missing): catalina.sh and the
# Tomcat 10.1 jars, without the `tomcat10` package, which depends on systemd and installs a
# system service and user that this benchmark must not use.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
n=${1:-1}
profile=${PROFILE:-$here/profile.yaml}
port0=${PORT:-18080}
address=127.0.0.1
case $n in ''|*[!0-9]*) echo "run-tomcat.sh: N must be a number, got '$n'" >&2; exit 2 ;; esac
if (( n < 1 || n > 10 )); then echo "run-tomcat.sh: N must be 1..10" >&2; exit 2; fi
command -v jq >/dev/null || { echo "run-tomcat.sh: needs jq (apt-get install -y jq)" >&2; exit 2; }
command -v java >/dev/null || { echo "run-tomcat.sh: needs a Java runtime (11+)" >&2; exit 2; }

CATALINA_HOME=/usr/share/tomcat10
if [[ ! -x $CATALINA_HOME/bin/catalina.sh ]]; then
	echo "== installing Debian's tomcat10-common (Tomcat 10.1 runtime, no service)"
	apt-cache policy tomcat10-common | head -3
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tomcat10-common; then
		apt-get update
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tomcat10-common
	fi
fi
tomcat_version=$(java -cp "$CATALINA_HOME/lib/catalina.jar" org.apache.catalina.util.ServerInfo 2>/dev/null |
	sed -n 's/^Server number: *//p')
java_version=$(java -version 2>&1 | head -1)

TMP=$(mktemp -d /tmp/bench-tomcat.XXXXXX)
OUT=${OUT:-$TMP/records}
mkdir -p "$OUT"

watch_pid=
stop_watch() {
	[[ -n $watch_pid ]] || return 0
	kill -TERM "$watch_pid" 2>/dev/null || true
	for _ in $(seq 50); do kill -0 "$watch_pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$watch_pid" 2>/dev/null || true
	wait "$watch_pid" 2>/dev/null || true
	watch_pid=
}

tomcat_pid= tomcat_port=
stop_tomcat() {
	[[ -n $tomcat_pid ]] || return 0
	local pid=$tomcat_pid
	tomcat_pid=
	# catalina.sh run was started with setsid and execs java: the JVM leads its own process
	# group, so the group holds Tomcat and nothing else.
	kill -TERM -- "-$pid" 2>/dev/null || true
	for _ in $(seq 1 60); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.25
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "tomcat $pid ignored SIGTERM for 15 s: SIGKILL" >&2
		kill -KILL -- "-$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	if [[ -n $tomcat_port ]] && [[ -n $(ss -Hltn "sport = :$tomcat_port") ]]; then
		echo "run-tomcat.sh: WARNING: something still listens on :$tomcat_port" >&2
		ss -Hltnp "sport = :$tomcat_port" >&2
	fi
}
cleanup() {
	stop_watch
	stop_tomcat
	rm -rf "$TMP/src" "$TMP/ramp" "$TMP/sim"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The driver: built from the working tree, or from git HEAD if the tree is mid-edit.
if [[ ${WATCH:-} == 1 ]] && ! (cd "$root" && go build -o "$TMP/sim" ./cmd/sim) 2>"$TMP/build.err"; then
	echo "run-tomcat.sh: WATCH=1 but sim does not build from the working tree:" >&2
	head -5 "$TMP/build.err" >&2
	exit 2
fi
if ! (cd "$root" && go build -o "$TMP/ramp" ./bench/tomcat/ramp) 2>"$TMP/build.err"; then
	echo "run-tomcat.sh: the working tree does not build; building the driver from git HEAD + bench/tomcat" >&2
	sed 's/^/  /' "$TMP/build.err" | head -5 >&2
	mkdir -p "$TMP/src"
	git -C "$root" archive HEAD | tar -x -C "$TMP/src"
	rm -rf "$TMP/src/bench/tomcat" && mkdir -p "$TMP/src/bench" && cp -r "$here" "$TMP/src/bench/tomcat"
	(cd "$TMP/src" && go build -o "$TMP/ramp" ./bench/tomcat/ramp)
fi

echo "Tomcat $tomcat_version ($CATALINA_HOME), $java_version"
echo "profile: $profile"
echo "records: $OUT"
rows=()
for i in $(seq 1 "$n"); do
	port=$((port0 + 2 * (i - 1)))
	if [[ -n $(ss -Hltn "sport = :$port") ]]; then
		echo "run-tomcat.sh: port $port is in use; set PORT to a free one" >&2
		exit 2
	fi
	base=$TMP/base$i
	mkdir -p "$base"/{conf,logs,temp,work,webapps/app/static}
	sed -e "s/@PORT@/$port/" -e "s/@ADDRESS@/$address/" "$here/base/conf/server.xml" >"$base/conf/server.xml"
	cp "$here/base/conf/web.xml" "$here/base/conf/logging.properties" "$base/conf/"
	cp "$here/base/webapps/app/page.jsp" "$base/webapps/app/"
	cp "$root/simulator/static/page.html" "$base/webapps/app/static/page.html"

	echo "== run $i: starting Tomcat on $address:$port (CATALINA_BASE $base)"
	CATALINA_HOME=$CATALINA_HOME CATALINA_BASE=$base CATALINA_TMPDIR=$base/temp \
		CATALINA_PID= JAVA_OPTS="-Xlog:gc,safepoint:file=$base/logs/gc.log:utctime,uptime ${JAVA_OPTS:-}" \
		setsid "$CATALINA_HOME/bin/catalina.sh" run >"$base/logs/tomcat.log" 2>&1 </dev/null &
	tomcat_pid=$! tomcat_port=$port
	up=
	for _ in $(seq 1 120); do # 60 s at most
		kill -0 "$tomcat_pid" 2>/dev/null || { echo "tomcat exited:" >&2; tail -20 "$base/logs/tomcat.log" >&2; exit 3; }
		if [[ $(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://$address:$port/app/static/page.html") == 200 ]]; then
			up=1
			break
		fi
		sleep 0.5
	done
	[[ -n $up ]] || { echo "tomcat did not answer within 60 s" >&2; tail -20 "$base/logs/tomcat.log" >&2; exit 3; }
	comm=$(cat "/proc/$tomcat_pid/comm")
	nofile=$(awk '/^Max open files/ { print $4 "/" $5 }' "/proc/$tomcat_pid/limits")
	echo "   pid $tomcat_pid ($comm), RLIMIT_NOFILE soft/hard $nofile (shell: $(ulimit -Sn)/$(ulimit -Hn))"
	# Warm-up: the first request compiles the JSP (Jasper + ecj), a few seconds.
	for _ in 1 2 3; do
		code=$(curl -s -o "$TMP/page.html" -m 30 -w '%{http_code}' "http://$address:$port/app/page.jsp") || true
		[[ $code == 200 ]] || { echo "page.jsp answered '$code':" >&2; head -c 2000 "$TMP/page.html" >&2; exit 3; }
	done
	echo "   page.jsp: $(grep -o 'status [0-9]*, [0-9]* characters[^<]*' "$TMP/page.html")"

	if [[ ${WATCH:-} == 1 ]]; then
		# --workers: server.xml's maxThreads, for the agent's pool warning.
		"$TMP/sim" watch --port "$port" --workers 200 --interval 250ms >"$TMP/watch$i.txt" 2>&1 &
		watch_pid=$!
		for _ in $(seq 100); do grep -q '^watch ' "$TMP/watch$i.txt" && break; sleep 0.1; done
		agent=$(sed -n 's/^watch //p' "$TMP/watch$i.txt" | head -1)
		[[ -n $agent ]] || { echo "sim watch did not start:" >&2; cat "$TMP/watch$i.txt" >&2; exit 3; }
		echo "   sim watch beside it: $agent"
	fi
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	echo "   load average before: $load"
	rec=$OUT/tomcat-run$i
	started=$(date -u +%FT%TZ)
	t_start=$(date +%s)
	# CPU of the whole machine, once a second, to tell our load from other processes'.
	timeout 200s vmstat -t -n 1 >"$TMP/vmstat$i.txt" 2>/dev/null &
	vmstat_pid=$!
	(cd "$root" && timeout --kill-after=10s 180s "$TMP/ramp" -profile "$profile" \
		-url "http://$address:$port/app/page.jsp" -pid "$tomcat_pid" -out "$rec" -json) \
		>"$TMP/run$i.json" || { echo "ramp failed" >&2; exit 3; }
	wall=$(( $(date +%s) - t_start ))
	kill "$vmstat_pid" 2>/dev/null || true
	wait "$vmstat_pid" 2>/dev/null || true
	cp "$TMP/vmstat$i.txt" "$rec/vmstat.txt"
	# The lowest idle CPU % of any second of the load (the first 40 lines: 40 s of load).
	idle_min=$(awk 'NR > 2 && NR <= 42 { if (min == "" || $15 < min) min = $15 } END { print min "" }' "$rec/vmstat.txt")
	# From cpu.csv (250 ms windows of the load): the most cores Tomcat used, and the most used by
	# processes other than Tomcat and the driver (another engineer's load on a shared machine).
	cpu_max=$(awk -F, '$2 == "load" { if ($4 > t) t = $4; if ($6 > o) o = $6 } END { printf "%.2f/%.2f", t, o }' "$rec/cpu.csv")
	# CPU seconds over the run (load and probes) of Tomcat + the driver (vegeta, samplers): the
	# same scope as run-sim.sh's cpu_s (sim's server + runner + vegeta).
	cpu_s=$(awk -F, 'NR > 1 { s += ($4 + $5) * ($1 - last) } { last = $1 } END { printf "%.1f", s }' "$rec/cpu.csv")
	# The thread dump: where every worker waits (still hung: probes are over, Tomcat is not).
	if command -v jcmd >/dev/null; then
		timeout 30s jcmd "$tomcat_pid" Thread.print >"$rec/threads.txt" 2>&1 || true
	fi
	after=$(ss -Htn state close-wait "sport = :$port" | wc -l)
	if [[ -n $watch_pid ]]; then
		curl -s -m 15 "$agent/census" >"$rec/census.json" || true
		stop_watch
		cp "$TMP/watch$i.txt" "$rec/watch.txt"
		echo "   sim watch: $(grep -m1 '^self-call seen' "$rec/watch.txt" || echo 'no self-call line')"
		echo "   census at the end: $(jq -c '.selfcall | {connections, waiting, waiting_accept_queue, waiting_unread, oldest_wait_ms, callers, processes, requests_in_flight, workers, wait_warning, pool_warning}' "$rec/census.json" 2>/dev/null)"
	fi
	stop_tomcat
	cp "$base/logs/tomcat.log" "$base/logs/gc.log" "$rec/" 2>/dev/null || true

	# Workers (http-nio-PORT-exec-N) whose stack is inside HttpURLConnection's read of the
	# self-call's response: the deadlock, seen from inside.
	workers=$(grep -c '^"http-nio-.*-exec-' "$rec/threads.txt" 2>/dev/null || true)
	in_read=$(awk '/^"http-nio-.*-exec-/ { w = 1; next } /^$/ { w = 0 } w && /sun.net.www.protocol.http.HttpURLConnection.getInputStream/ { n++; w = 0 } END { print n + 0 }' "$rec/threads.txt" 2>/dev/null || true)
	j=$TMP/run$i.json
	first_fail=$("$TMP/ramp" -profile "$profile" -analyze "$rec" | jq -r 'if .first_failed_t_s < 0 then "none" else (.first_failed_rps*10|round/10|tostring) end') || first_fail=?
	row=$(jq -r --arg load "$load" --arg wall "$wall" --arg started "$started" --arg nofile "$nofile" \
		--arg workers "$workers" --arg inread "$in_read" --arg after "$after" --arg idle "$idle_min" --arg cpu "$cpu_max" --arg ff "$first_fail" --arg cpus "$cpu_s" \
		'[ $started, (if .onset_rate_rps == null then "none" else (.onset_rate_rps*10|round/10|tostring) end),
		   (if .collapse_onset_s == null then "none" else (.collapse_onset_s*100|round/100|tostring) end),
		   $ff, (.peak_close_wait|tostring), (.recovered|tostring),
		   "\(.probes_ok)/\(.probes_total)", (.requests|tostring), .verdict, $nofile, "\($inread)/\($workers)", $after, $cpus, $idle, $cpu, $load, $wall ] | @tsv' "$j")
	rows+=("$i	$row")
	echo "   $(jq -r '"verdict \(.verdict), onset \(.onset_rate_rps) rps at \(.collapse_onset_s) s, peak CLOSE_WAIT \(.peak_close_wait), probes \(.probes_ok)/\(.probes_total), requests \(.requests) (\(.ok) OK)"' "$j")"
done

echo
printf '%-4s %-21s %-14s %-8s %-15s %-15s %-10s %-10s %-6s %-8s %-12s %-15s %-10s %-6s %-9s %-16s %-16s %s\n' run started_utc onset_rate_rps onset_s \
	first_fail_rps peak_close_wait recovered probes_ok sent verdict nofile workers_in_read cw_at_stop cpu_s idle_min% tomcat/other_max load_before wall_s
for r in "${rows[@]}"; do
	IFS=$'\t' read -r a b c d ff e f g sent h k l m cs q x o p <<<"$r"
	printf '%-4s %-21s %-14s %-8s %-15s %-15s %-10s %-10s %-6s %-8s %-12s %-15s %-10s %-6s %-9s %-16s %-16s %s\n' "$a" "$b" "$c" "$d" "$ff" "$e" "$f" "$g" "$sent" "$h" "$k" "$l" "$m" "$cs" "$q" "$x" "$o" "$p"
done
echo "first_fail_rps = offered rate when the first failed request was sent (ramp -analyze); sent = requests"
echo "the driver sent (the profile offers 6100: fewer means the machine could not keep the pace)"
echo "cpu_s = CPU seconds of Tomcat + the driver over the run (cpu.csv)"
echo "idle_min% = lowest idle CPU of any second of the load (vmstat); tomcat/other_max = most cores used by"
echo "Tomcat / by processes other than Tomcat and the driver in any 250 ms window of the load (cpu.csv)"
echo "records (sim format: summary.json, timeline.csv, probes.csv, results.bin; plus threads.txt, gc.log, tomcat.log): $OUT"
