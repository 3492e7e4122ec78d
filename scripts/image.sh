#!/usr/bin/env bash
# npm run image: builds pmtu-watch's container image (deploy/image/Dockerfile)
# with the Docker engine DOCKER_HOST names (or the client's default), and no
# registry:
#   1. npm pack (its prepack makes the prebuilt addon)    -> CONTEXT/pmtu-watch.tgz
#   2. the dependencies in an npm cache, filled here       -> CONTEXT/npm-cache/
#   3. the base, unless PMTU_WATCH_IMAGE_BASE names one: a minimal Debian of
#      this machine's release made by mmdebstrap from Debian's packages
#      (libbpf1, libelf1, libstdc++6), with this machine's own Node and npm
#      copied in, as the official node images carry theirs (Debian bookworm's
#      nodejs is 18, below what package.json's engines asks), docker import'ed
#      as pmtu-watch-base:CODENAME-nodeVERSION and reused while it exists;
#   4. docker build --network none with BASE set to it     -> pmtu-watch:VERSION
# With PMTU_WATCH_IMAGE_BASE (e.g. node:20-bookworm-slim) the engine pulls it
# and the build may use the network (apt-get of libbpf1 and libelf1).
#
# Env: DOCKER (the client; default docker), PMTU_WATCH_IMAGE (the tag; default
# pmtu-watch:VERSION), PMTU_WATCH_IMAGE_BASE, PMTU_WATCH_REBUILD_BASE=1 (make
# the local base again), DEBIAN_MIRROR and DEBIAN_SECURITY_MIRROR.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
docker=${DOCKER:-docker}
version=$(node -p "require('$root/package.json').version")
tag=${PMTU_WATCH_IMAGE:-pmtu-watch:$version}
say() { echo "pmtu-watch: $*" >&2; }
started=$(date +%s)

if ! "$docker" version --format '{{.Server.Version}}' >/dev/null 2>&1; then
	say "no Docker engine answers at ${DOCKER_HOST:-the default socket}: start one, or set DOCKER_HOST"
	exit 1
fi

ctx=$(mktemp -d "${TMPDIR:-/tmp}/pmtu-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT

# 1. The tarball.
(cd "$root" && npm pack --pack-destination "$ctx" >&2)
mv "$ctx"/pmtu-watch-"$version".tgz "$ctx/pmtu-watch.tgz"

# 2. Its dependencies, in a cache of their own that goes into the context.
mkdir "$ctx/fill" "$ctx/npm-cache"
echo '{"name":"fill","private":true}' >"$ctx/fill/package.json"
(cd "$ctx/fill" && npm install --cache "$ctx/npm-cache" --ignore-scripts --no-audit --no-fund --no-update-notifier \
	--loglevel=error "$ctx/pmtu-watch.tgz" >&2)
rm -rf "$ctx/fill"

# 3. The base.
build_net=()
npm_net=--prefer-offline
if [ -n "${PMTU_WATCH_IMAGE_BASE:-}" ]; then
	base=$PMTU_WATCH_IMAGE_BASE
else
	# shellcheck disable=SC1091
	. /etc/os-release
	if [ "${ID:-}" != debian ] || [ -z "${VERSION_CODENAME:-}" ]; then
		say "the local base is made from Debian's packages and this is ${PRETTY_NAME:-not Debian}: set PMTU_WATCH_IMAGE_BASE (e.g. node:20-bookworm-slim)"
		exit 1
	fi
	node_bin=$(readlink -f "$(command -v node)")
	npm_dir=$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)
	node_version=$("$node_bin" -p 'process.versions.node')
	base=pmtu-watch-base:$VERSION_CODENAME-node$node_version
	if [ "${PMTU_WATCH_REBUILD_BASE:-}" = 1 ] || ! "$docker" image inspect "$base" >/dev/null 2>&1; then
		bash "$root/scripts/ensure-deb.sh" image
		mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
		security=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
		say "making $base: mmdebstrap $VERSION_CODENAME (libbpf1 libelf1 libstdc++6) from $mirror, with this machine's node $node_version and npm"
		base_started=$(date +%s)
		mmdebstrap --quiet --variant=essential --include=libbpf1,libelf1,libstdc++6 \
			--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
			--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
			--customize-hook="copy-in $node_bin /usr/bin" \
			--customize-hook='mkdir -p "$1/usr/lib/node_modules"' \
			--customize-hook="copy-in $npm_dir /usr/lib/node_modules" \
			--customize-hook='ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/bin/npm"; ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$1/usr/bin/npx"' \
			"$VERSION_CODENAME" - \
			"deb $mirror $VERSION_CODENAME main" "deb $mirror $VERSION_CODENAME-updates main" \
			"deb $security $VERSION_CODENAME-security main" |
			"$docker" import \
				--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
				--change 'CMD ["node"]' - "$base" >/dev/null
		now=$(date +%s)
		say "made $base in $((now - base_started)) s"
	fi
	# Nothing to fetch: the base is here and the cache holds every dependency.
	build_net=(--network none)
	npm_net=--offline
fi

# 4. The image.
cp "$root/deploy/image/Dockerfile" "$ctx/Dockerfile"
say "building $tag on $base"
"$docker" build "${build_net[@]}" --build-arg "BASE=$base" --build-arg "NPM_NETWORK=$npm_net" --tag "$tag" "$ctx" >&2
size=$("$docker" image inspect --format '{{.Size}}' "$tag")
now=$(date +%s)
say "built $tag ($((size / 1000000)) MB) in $((now - started)) s"
echo "$tag"
