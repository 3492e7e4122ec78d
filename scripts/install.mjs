#!/usr/bin/env node
// npm's install step.
// - A tarball made by `npm pack` carries a prebuilt addon
//   (prebuilds/<platform>-<arch>/, scripts/prebuild.mjs). When it fits this
//   host (src/observer/prebuild.ts: platform, arch, N-API, glibc, version,
//   then a real load), that is the install: no apt-get, node-gyp, clang or
//   bpftool. If it fits but a system library it needs is missing (libbpf1,
//   libelf1), it says which to install, and still builds nothing.
// - Otherwise, and always with PMTU_WATCH_BUILD_FROM_SOURCE=1, on Linux it
//   builds the BPF programs and the addon as it always has: the Debian
//   packages the build needs (scripts/ensure-deb.sh build), then node-gyp
//   rebuild (binding.gyp), and a failure of either fails the install, loudly.
//   The build replaces the prebuild (prebuilds/ is removed), so the loader
//   (src/observer/addon.ts: prebuilds/, then build/Release/) takes the build.
// - Elsewhere (macOS...) there is no eBPF to build for: it says so in one line
//   and the install goes on, so analyze, report, replay and export work there; live,
//   serve, record, audit and lab demo need the addon and say so when run.

import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const say = (line) => process.stderr.write(`pmtu-watch: ${line}\n`);

if (process.platform !== 'linux') {
  say(`not building the eBPF programs and native addon on ${process.platform} (Linux only): analyze, report, replay and export work here; live, serve, record, audit and lab demo need Linux`);
  process.exit(0);
}

const fromSource = !['', '0', 'false'].includes((process.env.PMTU_WATCH_BUILD_FROM_SOURCE ?? '').trim().toLowerCase());
const prebuild = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
if (fromSource) {
  if (existsSync(prebuild)) say('PMTU_WATCH_BUILD_FROM_SOURCE is set: building from source instead of using the prebuilt addon');
} else if (existsSync(join(prebuild, 'prebuild.json'))) {
  // The check is the runtime's own code (dist/ is in every tarball that has a prebuild).
  let check;
  try {
    const { checkPrebuild } = await import(pathToFileURL(join(root, 'dist/observer/prebuild.js')).href);
    check = checkPrebuild(root);
  } catch (e) {
    check = { fits: false, why: `cannot check it: ${e.message.split('\n')[0]}` };
  }
  const where = relative(root, prebuild);
  if (check.fits && check.hint) {
    say(`the prebuilt addon ${where} cannot load yet: ${check.hint} (report, replay and export work meanwhile)`);
    process.exit(0);
  }
  if (check.fits) {
    say(`using the prebuilt addon ${where} (N-API ${check.manifest.napi}, glibc ${check.manifest.glibc}+): nothing to build`);
    process.exit(0);
  }
  say(`the prebuilt addon ${where} does not fit this host (${check.why}): building from source`);
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.error) {
    say(`cannot run ${cmd}: ${r.error.message}`);
    process.exit(1);
  }
  if (r.status !== 0) process.exit(r.status ?? 1);
}

run('bash', [join(root, 'scripts/ensure-deb.sh'), 'build']);
// npm hands its bundled node-gyp to lifecycle scripts (npm_config_node_gyp) and
// puts it on PATH; the first works where PATH has no node-gyp of its own.
const gyp = process.env.npm_config_node_gyp;
if (gyp) run(process.execPath, [gyp, 'rebuild']);
else run('node-gyp', ['rebuild']);
rmSync(join(root, 'prebuilds'), { recursive: true, force: true });
