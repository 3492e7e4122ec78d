// Install with no compiler: `npm pack` of this checkout (its prepack makes the
// prebuilt addon), then that tarball installed in a clean folder by an npm
// whose PATH holds node and npm and nothing else (no cc, gcc, clang, make,
// python3, bpftool, not even bash), as a user on a production host would;
// then, as root, `pmtu-watch live --duration 2` and `report` on a capture.
// Dependencies come from the npm registry or npm's cache (--prefer-offline).
//
// Two installs: one that lets pmtu-watch's install script run (allowScripts
// in the folder's package.json): the script must choose the prebuild and
// build nothing; and one with npm's default, which since npm 11.x skips a
// dependency's install scripts: the loader must find the prebuild all the same.

import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, expect, it } from 'vitest';

import { kernelDescribe, needBtf, needCommands } from '../helpers/kernel.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURE = join(ROOT, 'test/fixtures/captures/v0.1-rp-filter.pmtucap');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function run(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: opts.cwd, env: opts.env, timeout: opts.timeoutMs ?? 120_000, killSignal: 'SIGKILL', maxBuffer: 32 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

kernelDescribe(
  'install from the npm tarball with no compiler',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'pmtu-prebuilt-'));
    const bin = join(dir, 'bin');
    let tarball = '';
    // Only node and npm (npm's own script, not the /usr/bin symlink, so it finds its modules).
    const env: NodeJS.ProcessEnv = { HOME: process.env.HOME ?? '/root', PATH: bin, LANG: 'C' };
    // npm runs scripts with `sh` looked up on PATH; this PATH has none, so it is named by its path.
    const npmArgs = ['install', '--script-shell=/bin/sh', '--foreground-scripts', '--prefer-offline', '--no-audit', '--no-fund'];

    beforeAll(async () => {
      const pack = await run('npm', ['pack', '--pack-destination', dir], { cwd: ROOT, timeoutMs: 240_000 });
      expect(pack.code, pack.stderr).toBe(0);
      tarball = join(dir, pack.stdout.trim().split('\n').pop()!);
      console.log(`npm pack: ${(statSync(tarball).size / 1024).toFixed(0)} kB in ${(pack.ms / 1000).toFixed(1)} s`);
      expect(existsSync(join(ROOT, 'prebuilds')), 'postpack removes prebuilds/ from the checkout').toBe(false);
      mkdirSync(bin);
      symlinkSync(realpathSync(process.execPath), join(bin, 'node'));
      symlinkSync(realpathSync(spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout.trim()), join(bin, 'npm'));
    }, 300_000);
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    async function install(name: string, allowScripts: boolean, withEnv = env): Promise<{ folder: string; out: string }> {
      const folder = join(dir, name);
      mkdirSync(folder);
      writeFileSync(join(folder, 'package.json'), JSON.stringify({ name, private: true, ...(allowScripts ? { allowScripts: { 'pmtu-watch': true } } : {}) }));
      const r = await run(join(bin, 'npm'), [...npmArgs, tarball], { cwd: folder, env: withEnv, timeoutMs: 180_000 });
      console.log(`npm install (${name}): ${(r.ms / 1000).toFixed(1)} s`);
      expect(r.code, r.stderr).toBe(0);
      return { folder, out: r.stdout + r.stderr };
    }

    it('the PATH has node and npm and no compiler, make, python or bpftool', () => {
      expect(readdirSync(bin).sort()).toEqual(['node', 'npm']);
      for (const tool of ['cc', 'gcc', 'g++', 'clang', 'make', 'python3', 'bpftool', 'node-gyp', 'apt-get', 'bash']) {
        const which = spawnSync('/bin/sh', ['-c', `command -v ${tool}`], { env, encoding: 'utf8' });
        expect(which.status, `${tool} found at ${which.stdout}`).not.toBe(0);
      }
      expect(spawnSync('/bin/sh', ['-c', 'command -v node && command -v npm'], { env }).status).toBe(0);
    });

    it('the tarball carries the prebuilt addon, the CO-RE object and the manifest', async () => {
      const list = await run('tar', ['tzf', tarball], { cwd: dir });
      const files = list.stdout.split('\n');
      for (const f of ['pmtu_native.node', 'pmtu.bpf.o', 'prebuild.json']) expect(files).toContain(`package/prebuilds/linux-x64/${f}`);
    });

    it('its install script takes the prebuild and builds nothing; live --duration 2 and report work', async () => {
      const { folder, out } = await install('allowed', true);
      expect(out).toContain('pmtu-watch: using the prebuilt addon prebuilds/linux-x64 (N-API 8, glibc ');
      // ensure-deb.sh would say "installing build dependencies" or "missing build dependencies", node-gyp "gyp info";
      // and with no bash on PATH, running ensure-deb.sh at all would have failed the install.
      expect(out).not.toMatch(/build dependencies|gyp info|building from source|cannot run/);
      const pkg = join(folder, 'node_modules/pmtu-watch');
      expect(existsSync(join(pkg, 'build'))).toBe(false);
      expect(existsSync(join(pkg, 'prebuilds/linux-x64/pmtu_native.node'))).toBe(true);

      const live = await run(join(folder, 'node_modules/.bin/pmtu-watch'), ['live', '--duration', '2'], { cwd: folder, env, timeoutMs: 30_000 });
      console.log(`live: ${live.stderr.trim().replace(/\n/g, ' | ')}`);
      expect(live.code, live.stderr).toBe(0);
      expect(live.stderr).toMatch(/^pmtu-watch: watching \d+ interface\(s\) for 2 s; Ctrl-C stops$/m);
      expect(live.stderr).toMatch(/^pmtu-watch: \d+ events, \d+ flows, \d+ in trouble, 0 lost, /m);
      expect(live.stderr).not.toMatch(/warning|cannot|PMTU_ERR_/i);
      expect(live.stderr.trim().split('\n')).toHaveLength(2); // what a normal quiet run says, and nothing else

      const report = await run(join(folder, 'node_modules/.bin/pmtu-watch'), ['report', FIXTURE], { cwd: folder, env });
      expect(report.code, report.stderr).toBe(0);
      expect(report.stdout).toContain('PTB-DROPPED');
    });

    it("with npm's default (dependency install scripts skipped) the loader still finds the prebuild", async () => {
      const { folder } = await install('default', false);
      const live = await run(join(folder, 'node_modules/.bin/pmtu-watch'), ['live', '--duration', '1'], { cwd: folder, env, timeoutMs: 30_000 });
      expect(live.code, live.stderr).toBe(0);
      expect(live.stderr).toMatch(/^pmtu-watch: watching \d+ interface\(s\) for 1 s/m);
    });

    it('PMTU_WATCH_BUILD_FROM_SOURCE=1 (with the usual PATH) builds with node-gyp instead, and the build is what loads', async () => {
      const { folder, out } = await install('from-source', true, { ...process.env, PMTU_WATCH_BUILD_FROM_SOURCE: '1' });
      expect(out).toContain('PMTU_WATCH_BUILD_FROM_SOURCE is set: building from source');
      expect(out).toContain('gyp info ok');
      const pkg = join(folder, 'node_modules/pmtu-watch');
      expect(existsSync(join(pkg, 'build/Release/pmtu_native.node'))).toBe(true);
      expect(existsSync(join(pkg, 'prebuilds'))).toBe(false);
      const live = await run(join(folder, 'node_modules/.bin/pmtu-watch'), ['live', '--duration', '1'], { cwd: folder, timeoutMs: 30_000 });
      expect(live.code, live.stderr).toBe(0);
    }, 240_000);
  },
  { requires: [needBtf, needCommands('npm', 'tar')] },
);
