#!/usr/bin/env node
// npm's install step. On Linux it builds the BPF programs and the addon as it
// always has: the Debian packages the build needs (scripts/ensure-deb.sh
// build), then node-gyp rebuild (binding.gyp), and a failure of either fails
// the install, loudly. Elsewhere (macOS...) there is no eBPF to build for:
// it says so in one line and the install goes on, so analyze, report,
// replay and export work there; live, serve, record, audit and lab demo
// need the addon and say so when run.

import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

if (process.platform !== 'linux') {
  process.stderr.write(
    `pmtu-watch: not building the eBPF programs and native addon on ${process.platform} (Linux only): analyze, report, replay and export work here; live, serve, record, audit and lab demo need Linux\n`,
  );
  process.exit(0);
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.error) {
    process.stderr.write(`pmtu-watch: cannot run ${cmd}: ${r.error.message}\n`);
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
