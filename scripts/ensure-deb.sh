#!/usr/bin/env bash
# Makes sure the Debian packages a step needs are present:
#   ensure-deb.sh build   (npm preinstall: what builds the BPF programs and the addon)
#   ensure-deb.sh test    (npm pretest: the real peers the end-to-end tests drive)
#   ensure-deb.sh bench   (npm run bench: the peers it measures against, iperf3, nginx and ab)
# As root it installs what is missing; as anyone else it stops with the list
# and the command to run.
set -euo pipefail

# Each entry: a command (or an absolute file path) and the package providing it.
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
		nginx:nginx-light ab:apache2-utils
	)
	;;
bench)
	needs=(
		ip:iproute2 ss:iproute2 sysctl:procps iperf3:iperf3 tcpdump:tcpdump bpftrace:bpftrace
		unshare:util-linux mountpoint:util-linux tc:iproute2 clang:clang bpftool:bpftool ping:iputils-ping
		nginx:nginx-light ab:apache2-utils
	)
	;;
*)
	echo "usage: ensure-deb.sh build|test|bench" >&2
	exit 2
	;;
esac

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

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
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
	apt-get update -qq >&2
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
	exit 0
fi
echo "pmtu-watch: missing $1 dependencies: ${missing[*]}" >&2
echo "pmtu-watch: install them with: sudo apt-get install ${missing[*]}" >&2
exit 1
