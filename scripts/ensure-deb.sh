#!/usr/bin/env bash
# Makes sure the Debian packages a step needs are present:
#   ensure-deb.sh build   (npm install, through scripts/install.mjs: what builds the BPF programs and the addon)
#   ensure-deb.sh test    (npm pretest: the real peers the end-to-end tests drive, the tools probe
#                          is set beside (tracepath, nmap's path-mtu script), and Debian's chromium,
#                          the headless browser the web page's tests drive)
#   ensure-deb.sh bench   (npm run bench: the peers it measures against, iperf3, nginx and ab)
#   ensure-deb.sh docker  (the Docker engine the end-to-end tests start themselves: test/helpers/docker.ts)
#   ensure-deb.sh deploy  (what checks deploy/: promtool and a Prometheus server, systemd-analyze: test/deploy/)
#   ensure-deb.sh image   (npm run image: mmdebstrap, which makes the image's base from Debian's packages)
# As root it installs what is missing; as anyone else it stops with the list
# and the command to run. Off Linux it does nothing (npm install builds no
# addon there: scripts/install.mjs); on a Linux without apt-get it installs
# nothing and fails nothing, and only says what is missing under Debian's
# names (the build itself then fails loudly if something really is).
set -euo pipefail

[ "$(uname -s)" = Linux ] || exit 0

# Each entry: a command (or an absolute file path) and the package providing it.
# The docker client is asked for by path: a machine may have another client
# on PATH (/usr/local/bin/docker) with no engine, or of another version than
# Debian's dockerd. busybox-static is the whole root filesystem of the test
# images (no registry is reachable), so it must be the static build.
docker_needs=(
	dockerd:docker.io /usr/bin/docker:docker.io /bin/busybox:busybox-static nsenter:util-linux
)
# Debian's prometheus brings promtool and the server the alerting test runs
# with its own config and storage in a temp dir (the system's service is not
# started: see policy-rc.d below); systemd-analyze verifies the unit file.
deploy_needs=(
	promtool:prometheus prometheus:prometheus systemd-analyze:systemd
)
case "${1:-}" in
build)
	needs=(
		clang:clang llc:llvm bpftool:bpftool pkg-config:pkg-config make:make g++:g++
		/usr/include/bpf/libbpf.h:libbpf-dev /usr/include/gelf.h:libelf-dev
		/usr/include/zlib.h:zlib1g-dev
	)
	;;
test)
	needs=(
		ip:iproute2 ping:iputils-ping nft:nftables iperf3:iperf3 tcpdump:tcpdump
		tc:iproute2 ss:iproute2 sysctl:procps curl:curl openssl:openssl setpriv:util-linux tshark:tshark
		nginx:nginx-light ab:apache2-utils chromium:chromium
		tracepath:iputils-tracepath nmap:nmap
		"${docker_needs[@]}" "${deploy_needs[@]}"
	)
	;;
bench)
	needs=(
		ip:iproute2 ss:iproute2 sysctl:procps iperf3:iperf3 tcpdump:tcpdump bpftrace:bpftrace
		unshare:util-linux mountpoint:util-linux tc:iproute2 clang:clang bpftool:bpftool ping:iputils-ping
		nginx:nginx-light ab:apache2-utils
	)
	;;
docker)
	needs=("${docker_needs[@]}")
	;;
deploy)
	needs=("${deploy_needs[@]}")
	;;
image)
	needs=(mmdebstrap:mmdebstrap)
	;;
*)
	echo "usage: ensure-deb.sh build|test|bench|docker|deploy|image" >&2
	exit 2
	;;
esac

# A system Docker engine, one word a part (empty when none runs): its units
# as systemd sees them, and dockerd or containerd processes other than the
# tests' own engines (test/helpers/docker.ts keeps all of theirs under a
# directory named pmtu-dk-*, which their command lines name).
system_engine() {
	local what=() unit pid
	if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
		for unit in docker.socket docker.service containerd.service; do
			systemctl is-active --quiet "$unit" 2>/dev/null && what+=("$unit")
		done
	fi
	for pid in $(pgrep -x dockerd) $(pgrep -x containerd); do
		tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'pmtu-dk-' || what+=("$pid")
	done
	[ -e /sys/class/net/docker0 ] && what+=(docker0)
	echo "${what[*]}"
}

# Stops what of a system engine runs now and did not before the install.
stop_new_engine() {
	local before=" $1 " part
	for part in $(system_engine); do
		[[ $before == *" $part "* ]] && continue
		echo "pmtu-watch: the install started $part; stopping it" >&2
		case $part in
		*.*) systemctl stop "$part" >&2 || true ;;
		docker0) ip link del docker0 2>/dev/null || true ;;
		*) kill "$part" 2>/dev/null || true ;;
		esac
	done
}

missing=()
for need in "${needs[@]}"; do
	what=${need%%:*}
	pkg=${need##*:}
	if [[ $what == /* ]]; then
		[ -e "$what" ] && continue
	else
		command -v "$what" >/dev/null 2>&1 && continue
		[ -x "/usr/sbin/$what" ] || [ -x "/sbin/$what" ] && continue
	fi
	[[ " ${missing[*]} " == *" $pkg "* ]] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
	echo "pmtu-watch: not a Debian system, installing nothing; $1 may need what Debian calls: ${missing[*]}" >&2
	exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
	echo "pmtu-watch: installing $1 dependencies: ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	# nginx is a server the bench and tests start themselves, in a namespace,
	# with a config of their own: installing it must not start the system's.
	# Debian asks policy-rc.d before starting a service; without one, one that
	# says no is there for the install only.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	# The same goes for docker.io (and the containerd it depends on): the
	# tests run engines of their own, each in a namespace of its own, and a
	# system dockerd would add a docker0 bridge and iptables rules to the host.
	# Should a service start all the same (a policy-rc.d of the machine's own
	# that says yes), it is stopped, and the install fails if it won't.
	engine_before=$(system_engine)
	apt-get update -qq >&2
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
	stop_new_engine "$engine_before"
	sleep 1
	stop_new_engine "$engine_before" # the bridge a dockerd stopped just now left
	if [ "$(system_engine)" != "$engine_before" ]; then
		echo "pmtu-watch: a system Docker engine runs since installing ${missing[*]}: $(system_engine)" >&2
		exit 1
	fi
	exit 0
fi
echo "pmtu-watch: missing $1 dependencies: ${missing[*]}" >&2
echo "pmtu-watch: install them with: sudo apt-get install ${missing[*]}" >&2
exit 1
