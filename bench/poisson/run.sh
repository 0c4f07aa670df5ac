#!/usr/bin/env bash
# bench/poisson/run.sh: does the self topology deadlock at a lower offered rate with Poisson
# arrivals than with uniform ones (issue 7)? For each seed, runs `sim run --topology self` with
# uniform.yaml and with poisson.yaml at that seed (about 50 s each), and prints a table.
#
#   bash bench/poisson/run.sh [SEED...]      # default seeds: 1 2 3
#
# Environment:
#   OUT=DIR    where run records go (default: a temp folder, kept and printed)
#
# onset_rate_rps is the profile's rate at the hang onset (the start of the collapse), the same
# for both arrival processes; hang_onset_s is that moment, seconds into the load. "none" means
# no collapse. The machine's load average before each run is printed beside it: another
# process busy on these 2 cores delays the server and moves the onset.
#
# Exit status: 0 when every run completed, 1 when one failed, 2 on a setup error.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
seeds=("$@")
(( ${#seeds[@]} )) || seeds=(1 2 3)
for s in "${seeds[@]}"; do
	case $s in ''|*[!0-9]*) echo "run.sh: a seed is a whole number >= 0, got '$s'" >&2; exit 2 ;; esac
done
command -v jq >/dev/null || { echo "run.sh: needs jq (apt-get install -y jq)" >&2; exit 2; }

TMP=$(mktemp -d /tmp/bench-poisson.XXXXXX)
OUT=${OUT:-$TMP/runs}
mkdir -p "$OUT"
cleanup() { rm -rf "$TMP/sim"; }
trap cleanup EXIT

if ! (cd "$root" && go build -o "$TMP/sim" ./cmd/sim) 2>"$TMP/build.err"; then
	echo "run.sh: the working tree does not build (another engineer mid-edit?):" >&2
	sed 's/^/  /' "$TMP/build.err" | head -5 >&2
	rm -rf "$TMP"
	exit 2
fi

# run ARRIVALS SEED PROFILE: one run, one table row.
fail=0 n=0
run() {
	n=$((n + 1))
	local arrivals=$1 seed=$2 profile=$3 tag=run$n-$1
	local load began json=$TMP/$tag.json
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	began=$(date +%H:%M:%S)
	# Bounded: 40 s of load + 5 s of probes; sim stops its own children, timeout is the belt.
	if ! (cd "$root" && timeout --kill-after=15s 180s "$TMP/sim" run --topology self \
		--profile "$profile" --out "$OUT" --json >"$json" 2>"$TMP/$tag.err"); then
		echo "run $tag failed:" >&2
		tail -5 "$TMP/$tag.err" >&2
		fail=1
		return
	fi
	jq -r --arg a "$arrivals" --arg s "$seed" --arg l "$load" --arg b "$began" '[
		$a, $s,
		(if .onset_rate_rps == null then "none" else (.onset_rate_rps*10|round/10|tostring) end),
		(if .hang_onset_s == null then "none" else (.hang_onset_s*100|round/100|tostring) end),
		.verdict, (.recovered|tostring), (.requests|tostring), $b, $l
	] | @tsv' "$json" | awk -F'\t' '{ printf "%-9s %-5s %-15s %-13s %-9s %-10s %-9s %-9s %s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9 }'
}

echo "sim built from the working tree; records: $OUT"
printf '%-9s %-5s %-15s %-13s %-9s %-10s %-9s %-9s %s\n' \
	arrivals seed onset_rate_rps hang_onset_s verdict recovered requests started load_before
start=$SECONDS
for s in "${seeds[@]}"; do
	# A uniform run per Poisson run, interleaved, so that both see the same machine: even
	# pacing has no seed, but its onset still varies from run to run (PITFALLS.md).
	run uniform - "$here/uniform.yaml"
	# The seed goes into a copy of the profile: sim takes no seed flag. The copy keeps the base
	# name, so the run records name the profile "poisson".
	mkdir -p "$TMP/seed$s"
	sed -E "s/^seed:.*/seed: $s/" "$here/poisson.yaml" >"$TMP/seed$s/poisson.yaml"
	grep -q "^seed: $s\$" "$TMP/seed$s/poisson.yaml" || { echo "run.sh: could not set the seed" >&2; exit 2; }
	run poisson "$s" "$TMP/seed$s/poisson.yaml"
done
echo "wall clock: $((SECONDS - start)) s. Summaries: $TMP/*.json"
exit $fail
