// The container image, built and run here as a user would: a Docker engine of
// the test's own (test/helpers/docker.ts: --bridge=none, --iptables=false,
// its own data and exec roots in a temp dir), `npm run image` against it
// (DOCKER_HOST) with no registry — the base from mmdebstrap, the npm
// dependencies from a cache in the context, the build with --network none —
// then `docker run --privileged --network host --pid host` with /run/netns and
// /sys/fs/bpf mounted, watching the lab's namespaces while scenario 3
// (rp-filter) drives its traffic: the container must find the black hole the
// scenario expects. The engine is stopped and everything unmounted after; its
// images lived in its temp data root, so nothing is left.

import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { expect, it } from 'vitest';

import { meetsExpected, scenario } from '../../src/lab/scenarios.js';
import { waitFor } from '../../src/lab/traffic.js';
import { dockerAvailable, useDockerEngines } from '../helpers/docker.js';
import { kernelDescribe, needBtf, needLabTools } from '../helpers/kernel.js';
import { useLabs } from '../helpers/labs.js';
import { observerAttached, trafficFlows, verdicts, type JsonLine, type VerdictLine } from '../helpers/live.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NAME = 'pmtu-watch-under-test';

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: opts.cwd, env: opts.env, timeout: opts.timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/**
 * --privileged gives a container every capability Docker knows (up to
 * CAP_CHECKPOINT_RESTORE, 40, on recent versions) and fails to start where our root lacks one
 * (here: CAP_SYS_RESOURCE). Then the capabilities pmtu-watch needs, named
 * (what --privileged would give beyond them is nothing it uses), with the
 * seccomp and AppArmor confinement --privileged lifts.
 */
function privilegeFlags(): { flags: string[]; how: string } {
  const bnd = BigInt(`0x${/^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]}`);
  const all = (1n << 41n) - 1n;
  if ((bnd & all) === all) return { flags: ['--privileged'], how: '--privileged' };
  // SYS_ADMIN stands in for BPF and PERFMON, which Docker 20.10 does not know.
  const caps = ['NET_ADMIN', 'SYS_ADMIN', 'SYS_PTRACE'];
  return {
    flags: [...caps.map((c) => `--cap-add=${c}`), '--security-opt=seccomp=unconfined', '--security-opt=apparmor=unconfined'],
    how: `--cap-add ${caps.join(',')} (this root's bounding set lacks capabilities --privileged asks for)`,
  };
}

/** The last verdict of every flow. */
function finals(lines: VerdictLine[]): VerdictLine[] {
  const last = new Map<string, VerdictLine>();
  for (const v of lines) last.set(`${v.flow.proto}|${v.flow.src}|${v.flow.sport}|${v.flow.dst}|${v.flow.dport}`, v);
  return [...last.values()];
}

kernelDescribe(
  'the container image',
  () => {
    const engines = useDockerEngines();
    const labs = useLabs();

    it('npm run image builds it with no registry; run on the host, it finds rp-filter’s black hole in the host’s namespaces', async () => {
      const engine = await engines.start();
      const env = { ...process.env, DOCKER_HOST: engine.host, DOCKER: engine.cli, DOCKER_CONFIG: join(engine.dir, 'cli') };
      const built = await run('npm', ['run', '--silent', 'image'], { cwd: ROOT, env, timeoutMs: 900_000 });
      expect(built.code, built.stderr.split('\n').slice(-15).join('\n')).toBe(0);
      const tag = built.stdout.trim().split('\n').pop()!;
      const version = (JSON.parse((await run('node', ['-p', 'JSON.stringify(require("./package.json"))'], { cwd: ROOT, timeoutMs: 10_000 })).stdout) as { version: string }).version;
      expect(tag).toBe(`pmtu-watch:${version}`);
      console.log(built.stderr.split('\n').filter((l) => l.startsWith('pmtu-watch: ')).join('\n'));
      console.log(`npm run image: ${(built.ms / 1000).toFixed(0)} s`);
      // The builder stage installed the tarball offline and its install script took the prebuild.
      expect(built.stderr).toContain('pmtu-watch: using the prebuilt addon prebuilds/linux-x64 (N-API 8, glibc ');
      expect(built.stderr).not.toMatch(/build dependencies|gyp info|building from source/);
      const inspect = JSON.parse((await engine.docker(['image', 'inspect', tag])).stdout) as { Config: { Entrypoint: string[] }; Size: number }[];
      expect(inspect[0]!.Config.Entrypoint).toEqual(['pmtu-watch']);
      console.log(`image ${tag}: ${(inspect[0]!.Size / 1e6).toFixed(0)} MB`);
      // Nothing was compiled in it, and it carries no compiler.
      const tools = await engine.docker(['run', '--rm', '--network', 'none', '--entrypoint', 'sh', tag, '-c', 'for t in cc gcc clang make python3 bpftool; do command -v $t; done; ls /opt/pmtu-watch/lib/node_modules/pmtu-watch'], { check: false });
      expect(tools.stdout.split('\n')).not.toContain('build');
      expect(tools.stdout).toContain('prebuilds');
      expect(tools.stdout).not.toMatch(/\/(cc|gcc|clang|make|python3|bpftool)$/m);

      // A host without libbpf1 (a throwaway container that removes it) hears so in one line.
      const nolib = await engine.docker(
        ['run', '--rm', '--network', 'none', '--entrypoint', 'sh', tag, '-c', 'rm /usr/lib/*-linux-gnu/libbpf.so.1* && ldconfig && pmtu-watch live --duration 1; echo "exit $?"'],
        { check: false },
      );
      expect(nolib.stderr.trim()).toMatch(
        /^pmtu-watch: cannot load the native addon \/opt\/pmtu-watch\/lib\/node_modules\/pmtu-watch\/prebuilds\/linux-x64\/pmtu_native\.node: libbpf\.so\.1: cannot open shared object file: No such file or directory \(libbpf\.so\.1 is missing: apt install libbpf1 libelf1 \(Fedora: dnf install libbpf elfutils-libelf\)\)$/,
      );
      expect(nolib.stdout).toMatch(/^exit [1-9]/m);

      const lab = await labs.create('image');
      const sc = scenario('rp-filter')!;
      const b = await sc.build(lab);
      const args = Object.values(b.ns).flatMap((ns) => ['--netns', ns]);
      const privilege = privilegeFlags();
      console.log(`docker run with ${privilege.how}`);
      await engine.docker(
        ['run', '--detach', `--name=${NAME}`, ...privilege.flags, '--network', 'host', '--pid', 'host', '-v', '/run/netns:/run/netns', '-v', '/sys/fs/bpf:/sys/fs/bpf', tag, 'live', '--json', '--duration', '90', ...args],
        { timeoutMs: 60_000 },
      );
      await waitFor(() => observerAttached(lab, b.ns[b.readyOn.role]!, b.readyOn.ifname), 30_000);
      await sc.drive(lab, b);
      await new Promise((r) => setTimeout(r, 700));
      await engine.docker(['kill', '--signal=SIGINT', NAME]);
      const exit = (await engine.docker(['wait', NAME], { timeoutMs: 30_000 })).stdout.trim();
      const logs = await engine.docker(['logs', NAME], { timeoutMs: 30_000 });
      expect(exit, logs.stderr).toBe('0');
      const lines = logs.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as JsonLine);
      const all = finals(verdicts({ lines }));
      const flows = trafficFlows({ lines });
      console.log(`in the container: ${flows} flows seen; ${all.map((v) => `${v.verdict}${v.cause ? `/${v.cause}` : ''}`).join(', ')}`);
      const { ok } = meetsExpected(all, sc.expected, b.ns, flows);
      const summary = all.map((v) => ({ verdict: v.verdict, cause: v.cause, flow: v.flow, where: v.where, mtu: v.mtu }));
      expect(ok, `expected ${JSON.stringify(sc.expected)} among ${JSON.stringify(summary)}\n${logs.stderr}`).toBe(true);
      expect(all.find((v) => v.verdict === 'ptb-dropped')).toMatchObject({ cause: 'rp_filter', mtu: 1500 });
      expect(logs.stderr).not.toMatch(/warning|cannot|PMTU_ERR_/i);

      // Everything goes with the engine: its containers, images and mounts lived in its temp dir.
      const report = await engine.stop();
      console.log(`engine stopped in ${report.ms} ms (${report.dockerdSignal}); unmounted ${report.unmounted.length}, killed ${report.killed.length}`);
      expect(existsSync(engine.dir)).toBe(false);
      expect(readdirSync('/run/netns').filter((n) => n === engine.id)).toEqual([]);
      expect(readdirSync(tmpdir()).filter((n) => n.startsWith('pmtu-image.'))).toEqual([]);
    }, 1_200_000);
  },
  { requires: [needBtf, needLabTools, dockerAvailable] },
);
