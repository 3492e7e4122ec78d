#!/usr/bin/env node
// npm pack's prepack: builds the addon with node-gyp (binding.gyp, the one
// build system) and copies what it made into prebuilds/<platform>-<arch>/:
//   pmtu_native.node  the addon (the BPF bytecode is inside, in its skeleton)
//   pmtu.bpf.o        the linked CO-RE BPF object those bytes come from, for bpftool and readers
//   prebuild.json     what it needs of a host (src/observer/prebuild.ts checks it at install)
// so `npm pack` always carries a fresh prebuild. `prebuild.mjs --clean`
// (postpack) removes prebuilds/ again: in a checkout, npm install must keep
// building from source and the loader must keep taking build/Release.
// Off Linux there is nothing to prebuild: the tarball then installs as before.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const prebuilds = join(root, 'prebuilds');

rmSync(prebuilds, { recursive: true, force: true });
if (process.argv.includes('--clean')) process.exit(0);
if (process.platform !== 'linux') {
  process.stderr.write(`pmtu-watch: no prebuilt addon on ${process.platform}: the tarball builds it on a Linux host at install\n`);
  process.exit(0);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', stdio: opts.capture ? ['ignore', 'pipe', 'inherit'] : 'inherit' });
  if (r.error) throw new Error(`cannot run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}`);
  return r.stdout ?? '';
}

try {
  run('bash', [join(root, 'scripts/ensure-deb.sh'), 'build']);
  const gyp = process.env.npm_config_node_gyp;
  if (gyp) run(process.execPath, [gyp, 'rebuild']);
  else run('node-gyp', ['rebuild']);

  const release = join(root, 'build/Release');
  const addon = join(release, 'pmtu_native.node');
  const bpf = join(release, 'obj/gen/bpf/pmtu.bpf.o');
  // It must load here, where it was built, or it fits nowhere.
  createRequire(import.meta.url)(addon);

  const napi = /NAPI_VERSION=(\d+)/.exec(readFileSync(join(root, 'binding.gyp'), 'utf8'))?.[1];
  if (!napi) throw new Error('binding.gyp defines no NAPI_VERSION');
  const symbols = run('objdump', ['-T', addon], { capture: true });
  const glibc = [...symbols.matchAll(/\bGLIBC_(\d+(?:\.\d+)+)\b/g)]
    .map((m) => m[1])
    .sort((a, b) => {
      const x = a.split('.').map(Number);
      const y = b.split('.').map(Number);
      for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
      return 0;
    })
    .pop();
  if (!glibc) throw new Error(`objdump -T ${addon} names no GLIBC_ version`);
  const needs = [...run('objdump', ['-p', addon], { capture: true }).matchAll(/^\s*NEEDED\s+(\S+)/gm)].map((m) => m[1]);
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const libbpf = spawnSync('pkg-config', ['--modversion', 'libbpf'], { encoding: 'utf8' }).stdout?.trim() || 'unknown';

  const out = join(prebuilds, `${process.platform}-${process.arch}`);
  mkdirSync(out, { recursive: true });
  copyFileSync(addon, join(out, 'pmtu_native.node'));
  copyFileSync(bpf, join(out, 'pmtu.bpf.o'));
  const manifest = {
    name: pkg.name,
    version: pkg.version,
    platform: process.platform,
    arch: process.arch,
    napi: Number(napi),
    libc: 'glibc',
    glibc,
    needs,
    addon: 'pmtu_native.node',
    bpf: 'pmtu.bpf.o',
    sha256: createHash('sha256').update(readFileSync(addon)).digest('hex'),
    built: { node: process.version, libbpf },
  };
  writeFileSync(join(out, 'prebuild.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  process.stderr.write(
    `pmtu-watch: prebuilt ${relative(root, out)}/pmtu_native.node (N-API ${napi}, glibc ${glibc}+, needs ${needs.filter((n) => !/^(libc|libm|libgcc_s|ld-linux[-\w]*)\.so/.test(n)).join(' ')})\n`,
  );
} catch (e) {
  rmSync(prebuilds, { recursive: true, force: true });
  process.stderr.write(`pmtu-watch: cannot make the prebuilt addon: ${e.message}\n`);
  process.exit(1);
}
