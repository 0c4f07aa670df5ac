#!/usr/bin/env bash
# The compose test (deploy/compose/compose_test.go, TestCompose) on a docker daemon of its
# own, with no registry: what CI runs, and how to run the same test on a Debian machine, as
# root.
#
#   deploy/compose/ci.sh          # needs: docker.io docker-compose debootstrap iproute2, Go
#
# It starts Debian's dockerd by hand under a temp folder (vfs storage, no iptables, no default
# bridge: what works on a machine with no systemd and no privileged containers), builds every
# image locally — a Debian base from debootstrap, nginx from Debian's package on it, sim's
# runtime stage from the Dockerfile and a sim binary built here (no golang image without a
# registry) — runs the test, and on every path (success, failure, Ctrl-C) removes every
# container, stops the daemon by its pid file, unmounts what it left and removes the folder.
# Where no daemon can start it skips with a message, except under CI=true, where it fails.
#
# Environment: SIM_DEBIAN_MIRROR overrides the mirror (default: the one apt uses here).
set -euo pipefail
cd "$(dirname "$0")/../.."

t0=$SECONDS
t=$SECONDS
# phase prints how long the step that just ended took: the container step's timing in CI's log.
phase() {
	printf 'compose-ci: %-44s %4d s  (total %d s)\n' "$1" $((SECONDS - t)) $((SECONDS - t0))
	t=$SECONDS
}

skip() {
	if [ "${CI:-}" = true ]; then
		echo "compose-ci: FAIL: $*" >&2
		exit 1
	fi
	echo "compose-ci: SKIP: $*" >&2
	exit 0
}

# Debian's docker CLI, not a newer one that may come first in PATH.
DOCKER=/usr/bin/docker
for need in /usr/sbin/dockerd:docker.io $DOCKER:docker.io docker-compose:docker-compose \
	debootstrap:debootstrap ss:iproute2 go:golang; do
	command -v "${need%%:*}" >/dev/null 2>&1 || skip "${need%%:*} not found (Debian package ${need##*:})"
done
[ "$(id -u)" = 0 ] || skip "dockerd and debootstrap need root (run as root, e.g. in a throwaway VM)"

mirror=${SIM_DEBIAN_MIRROR:-$(apt-get indextargets --format '$(REPO_URI)' 'Identifier: Packages' 'Release: bookworm' 2>/dev/null | head -n 1)}
[ -n "$mirror" ] || skip "no bookworm mirror in apt's sources (set SIM_DEBIAN_MIRROR)"

work=$(mktemp -d /tmp/sim-compose.XXXXXX)
export DOCKER_HOST=unix://$work/docker.sock
export DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0 # Debian's docker.io has no buildx
pids=()

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	# Background steps first (a build, debootstrap), then everything on the daemon, which is
	# this script's alone, then the daemon itself.
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ -f "$work/dockerd.pid" ]; then
		local pid
		pid=$(cat "$work/dockerd.pid")
		if kill -0 "$pid" 2>/dev/null; then
			local left
			left=$($DOCKER ps -aq 2>/dev/null || true)
			[ -z "$left" ] || $DOCKER rm -f $left >/dev/null 2>&1 || true
			# Networks too: each is a bridge on the host, which a killed daemon would leave.
			$DOCKER network prune -f >/dev/null 2>&1 || true
			phase "containers and networks removed"
			kill -TERM "$pid" 2>/dev/null || true
			for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
			if kill -0 "$pid" 2>/dev/null; then
				echo "compose-ci: dockerd $pid still running 30 s after SIGTERM: killing it" >&2
				kill -KILL "$pid" 2>/dev/null || true
			fi
			phase "dockerd stopped"
		fi
	fi
	# dockerd can leave mounts under its folders (an nsfs mount of netns/default, a container's
	# rootfs): unmount them, deepest first, before removing the folder.
	awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" || true
	done
	if awk -v w="$work/" 'index($2, w) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
		echo "compose-ci: mounts left under $work; not removing it" >&2
		rc=1
	else
		rm -rf "$work"
	fi
	phase "mounts and $work removed (rc $rc)"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The daemon, in a session of its own so that a Ctrl-C reaches this script's cleanup, which stops
# it after its containers, and not the daemon first.
setsid /usr/sbin/dockerd --storage-driver=vfs --iptables=false --bridge=none \
	--data-root "$work/data" --exec-root "$work/exec" --pidfile "$work/dockerd.pid" \
	-H "$DOCKER_HOST" >"$work/dockerd.log" 2>&1 &
daemon=$!
for _ in $(seq 120); do
	$DOCKER version >/dev/null 2>&1 && break
	kill -0 "$daemon" 2>/dev/null || break
	sleep 0.5
done
if ! $DOCKER version >/dev/null 2>&1; then
	tail -n 20 "$work/dockerd.log" >&2 || true
	skip "dockerd did not start (log above)"
fi
phase "dockerd started"

# Network-bound and CPU-bound steps side by side: debootstrap downloads, Go compiles. The binary
# is built as the Dockerfile's build stage builds it (static, trimmed).
mkdir -p "$work/bin"
debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 &
pids+=($!)
deboot=$!
CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$work/bin/sim" ./cmd/sim
phase "sim built on the host (static)"
if ! wait "$deboot"; then
	tail -n 20 "$work/debootstrap.log" >&2
	echo "compose-ci: debootstrap failed (log above)" >&2
	exit 1
fi
pids=()
phase "debootstrap (bookworm, minbase)"

# Slimmed as debian:bookworm-slim is (its dpkg excludes, and the files they exclude removed),
# without the apt lists and package cache debootstrap leaves (every apt step updates its own):
# the vfs driver copies the whole image for every layer and container, so size is time.
root=$work/rootfs
rm -rf "$root/var/lib/apt/lists/"* "$root/var/cache/apt/"* "$root/usr/share/man/"* \
	"$root/usr/share/info/"* "$root/usr/share/locale/"* "$root/usr/share/groff/"* "$root/usr/share/lintian/"*
find "$root/usr/share/doc" -mindepth 1 -not -type d -not -name copyright -delete
cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
tar -C "$work/rootfs" -c . | $DOCKER import - sim-ci/debian:bookworm >/dev/null
rm -rf "$work/rootfs"
phase "base image imported"

# The Dockerfile's runtime stage and the nginx image both run apt: side by side, on the host's
# network (the daemon has no bridge).
$DOCKER build -q --network host --target runtime --build-arg BASE_IMAGE=sim-ci/debian:bookworm \
	-t sim-ci/runtime . >"$work/build-runtime.log" 2>&1 &
runtime=$!
$DOCKER build -q --network host --build-arg BASE_IMAGE=sim-ci/debian:bookworm \
	-t sim-ci/nginx:bookworm -f deploy/compose/nginx.Dockerfile deploy/compose >"$work/build-nginx.log" 2>&1 &
nginx=$!
pids+=("$runtime" "$nginx")
for b in runtime:$runtime nginx:$nginx; do
	if ! wait "${b##*:}"; then
		cat "$work/build-${b%%:*}.log" >&2
		echo "compose-ci: docker build ${b%%:*} failed (log above)" >&2
		exit 1
	fi
done
pids=()
# sim:local is the image docker-compose.yml names: once it exists, compose does not build.
$DOCKER build -q --build-arg RUNTIME_IMAGE=sim-ci/runtime -t sim:local \
	-f deploy/compose/prebuilt.Dockerfile "$work/bin" >/dev/null
phase "images built (runtime, nginx, sim:local)"

SIM_COMPOSE=1 SIM_DOCKER=$DOCKER SIM_BIN=$work/bin/sim \
	SIM_BASE_IMAGE=sim-ci/debian:bookworm SIM_NGINX_IMAGE=sim-ci/nginx:bookworm \
	go test -count=1 -timeout 15m -run '^TestCompose$' -v ./deploy/compose
phase "TestCompose"
