#!/usr/bin/env bash
# Builds the BPF side into OUT (called by binding.gyp; one build system):
#   vmlinux.h from this machine's BTF, each bpf/*.bpf.c with clang -target bpf,
#   one linked object, and its libbpf skeleton header for native/.
# vmlinux.h is generated at build time rather than committed: the programs are
# CO-RE, so the header only has to name the types, and this keeps the repo free
# of a multi-megabyte generated file. Building therefore needs
# /sys/kernel/btf/vmlinux, which running needs anyway.
set -euo pipefail
out=${1:?usage: build-bpf.sh OUT_DIR}
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"

if [ ! -r /sys/kernel/btf/vmlinux ]; then
	echo "pmtu-watch: this kernel has no BTF (/sys/kernel/btf/vmlinux); it needs CONFIG_DEBUG_INFO_BTF=y" >&2
	exit 1
fi
bpftool btf dump file /sys/kernel/btf/vmlinux format c > "$out/vmlinux.h.tmp"
mv "$out/vmlinux.h.tmp" "$out/vmlinux.h"

case "$(uname -m)" in
x86_64) arch=x86 ;;
aarch64) arch=arm64 ;;
*) arch=$(uname -m) ;;
esac

objs=()
for src in "$here"/bpf/*.bpf.c; do
	obj="$out/$(basename "${src%.c}").o"
	clang -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_$arch \
		-I"$out" -I"$here/bpf" -c "$src" -o "$obj"
	objs+=("$obj")
done
bpftool gen object "$out/pmtu.bpf.o" "${objs[@]}"
bpftool gen skeleton "$out/pmtu.bpf.o" name pmtu_bpf > "$out/pmtu.skel.h"
