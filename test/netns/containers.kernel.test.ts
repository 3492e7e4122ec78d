// Containers of a real Docker engine (and a namespace only a process holds),
// watched by `pmtu-watch live --all-netns` and read by `audit --all-netns` as
// a user runs them: their own interfaces hooked, their events, verdicts and
// findings named the way their user knows them, new ones watched within a
// second, containers coming and going without a word of error.

import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';

import { expect, it } from 'vitest';

import { waitFor } from '../../src/lab/traffic.js';
import { dockerAvailable, useDockerEngines, type DockerEngine } from '../helpers/docker.js';
import { kernelDescribe, needAddon, needBtf } from '../helpers/kernel.js';
import { useLabs } from '../helpers/labs.js';
import { BIN, hookedAt, startLive, type JsonLine } from '../helpers/live.js';

const run = promisify(execFile);
const NET = 'pmtu-jumbo';
const SUBNET = '198.18.200.0/24';
const WEB_IP = '198.18.200.10';
const CLIENT_IP = '198.18.200.20';

/** What another run may say that is not about this test: leftovers of a killed pmtu-watch. */
const notOurs = (line: string) => line === '' || /leftover tc filter/.test(line);

/** The host-side veth of a container's eth0: the interface in the engine's namespace whose ifindex eth0 names as its peer. */
async function bridgePort(engine: DockerEngine, pid: number): Promise<string> {
  const peer = (await run('nsenter', ['-t', String(pid), '-n', 'cat', '/sys/class/net/eth0/iflink'])).stdout.trim();
  const links = JSON.parse((await run('ip', ['-n', engine.netns, '-j', 'link', 'show'])).stdout) as { ifindex: number; ifname: string }[];
  const port = links.find((l) => String(l.ifindex) === peer);
  if (!port) throw new Error(`no port of ifindex ${peer} in ${engine.netns}`);
  return port.ifname;
}

kernelDescribe(
  'containers of a real Docker engine',
  () => {
    const engines = useDockerEngines();

    it('live hooks the containers’ own eth0, names their events and verdict, watches a new one within 1 s; audit names them', async () => {
      const engine = await engines.start();
      await engine.importBusybox();
      await engine.network(NET, { subnet: SUBNET, mtu: 9000 });
      // web-1 serves a 4 MB file; its bridge port was left at 1500 under the 9000 network (SCENARIOS 6, with Docker's own bridge).
      const web = await engine.run('web-1', { network: NET, ip: WEB_IP, cmd: ['sh', '-c', 'mkdir -p /www && echo ok >/www/small && dd if=/dev/zero of=/www/big bs=1024 count=4096 2>/dev/null && exec httpd -f -p 80 -h /www'] });
      const client = await engine.run('client-1', { network: NET, ip: CLIENT_IP, cmd: ['sleep', '300'] });
      const port = await bridgePort(engine, web.pid);
      await run('ip', ['-n', engine.netns, 'link', 'set', 'dev', port, 'mtu', '1500']);
      // Each segment its own packet: a GSO packet crosses a veth whole, its size unchecked, so whether the
      // download met a drop depended on how TCP happened to batch its first segments.
      await run('nsenter', ['-t', String(web.pid), '-n', 'ip', 'link', 'set', 'dev', 'eth0', 'gso_max_segs', '1']);

      const live = startLive([]);
      try {
        await waitFor(async () => (await hookedAt(web.netns, 'eth0')) && (await hookedAt(client.netns, 'eth0')), 20_000);
        // httpd is up (small packets pass): a download begun before it listened would end in a reset, not a drop.
        const small = ['exec', 'client-1', 'timeout', '2', 'wget', '-q', '-O', '/dev/null', `http://${WEB_IP}/small`];
        await waitFor(async () => (await engine.docker(small, { check: false, timeoutMs: 5_000 })).code === 0, 15_000, 100);
        // The download stalls: bounded by timeout, whatever happens.
        await engine.docker(['exec', 'client-1', 'timeout', '4', 'wget', '-q', '-O', '/dev/null', `http://${WEB_IP}/big`], { check: false, timeoutMs: 15_000 });

        // A container started now is watched within a second of running.
        const late = await engine.run('late-1', { network: NET, ip: '198.18.200.30', cmd: ['sleep', '300'] });
        const started = Date.now();
        await waitFor(() => hookedAt(late.netns, 'eth0'), 5_000, 20);
        const attachMs = Date.now() - started;
        console.log(`late-1 watched ${attachMs} ms after docker run returned`);
        expect(attachMs).toBeLessThan(1000);
        await new Promise((r) => setTimeout(r, 800));
      } finally {
        await live.stop();
      }
      const events = live.lines.filter((l) => l.type === 'event');
      const named = events.filter((e) => e.netns === 'docker:web-1');
      const seen = [...new Set(events.map((e) => `${e.netns} ${e.kind}`))];
      expect(named.length, `events by namespace and kind: ${JSON.stringify(seen)}; web-1's namespace inode ${web.netnsInode}`).toBeGreaterThan(0);
      expect(named[0]!.netnsInfo).toMatchObject({ kind: 'docker', name: 'web-1', id: web.id.slice(0, 12), pid: web.pid });
      // Ours are never nameless (a namespace elsewhere on the host that lived less than a look may be).
      expect(events.filter((e) => [web, client].some((c) => e.netns === `netns:${c.netnsInode}`))).toEqual([]);
      const verdicts = live.lines.filter((l) => l.type === 'verdict') as (JsonLine & { verdict: string; where: { netns: string | null; iface: string | null }; fix?: string })[];
      const bottleneck = verdicts.find((v) => v.verdict === 'local-bottleneck');
      expect(bottleneck, JSON.stringify(verdicts.map((v) => [v.verdict, v.where]))).toBeDefined();
      expect([bottleneck!.where.netns, ...events.filter((e) => e.kind === 'drop').map((e) => e.netns)]).toContain('docker:web-1');
      expect(live.stderr().split('\n').filter((l) => !notOurs(l) && /error|warning|cannot/i.test(l))).toEqual([]);

      const audit = await run(process.execPath, [BIN, 'audit', '--all-netns', '--json', '--fail-on', 'none']);
      const result = JSON.parse(audit.stdout) as { scope: string[]; findings: { rule: string; netns: string; fix: string[]; related?: { netns: string }[] }[] };
      expect(result.scope).toEqual(expect.arrayContaining(['docker:web-1', 'docker:client-1', engine.netns]));
      const mismatch = result.findings.find((f) => f.rule === 'veth-mtu-mismatch' && [f.netns, ...(f.related ?? []).map((r) => r.netns)].includes('docker:web-1'));
      expect(mismatch, JSON.stringify(result.findings)).toBeDefined();
      expect(mismatch!.fix.join(' ')).toMatch(/docker inspect -f '\{\{\.State\.Pid\}\}' web-1|ip -n pmtu-dk-/);
    });

    it('20 rounds of containers coming and going while live watches: each watched, none an error', async () => {
      const engine = await engines.start();
      await engine.importBusybox();
      await engine.network(NET, { subnet: SUBNET, mtu: 1500 });
      const live = startLive([]);
      try {
        await waitFor(() => live.lines.some((l) => l.type === 'stats'), 20_000);
        for (let round = 0; round < 20; round++) {
          const c = await engine.run(`churn-${round}`, { network: NET, ip: `198.18.200.${100 + round}`, cmd: ['sleep', '60'] });
          if (round % 4 === 0) await waitFor(() => hookedAt(c.netns, 'eth0'), 5_000, 20);
          await engine.rm(c.name);
        }
        await new Promise((r) => setTimeout(r, 1200)); // a rescan after the last went
      } finally {
        await live.stop();
      }
      expect(live.child.exitCode).toBe(0);
      expect(live.stderr().split('\n').filter((l) => !notOurs(l) && !/^pmtu-watch: (watching|stopped|\d+ events)/.test(l) && /error|warn|cannot|fail/i.test(l))).toEqual([]);
    });
  },
  { requires: [needAddon, needBtf, dockerAvailable] },
);

kernelDescribe(
  'a namespace only a process holds',
  () => {
    const labs = useLabs();

    it('`unshare -n` with a veth into it from a lab namespace: hooked, and its traffic counted under pid:N', async () => {
      const lab = await labs.create('held');
      const outerNs = await lab.addNs('o');
      const holder = spawn('unshare', ['-n', 'sleep', '60'], { stdio: 'ignore' });
      const pid = holder.pid!;
      const path = `/proc/${pid}/ns/net`;
      const live = startLive([]);
      try {
        await waitFor(async () => (await run('readlink', [path])).stdout.trim() !== (await run('readlink', ['/proc/self/ns/net'])).stdout.trim(), 5_000);
        await lab.exec(outerNs, ['ip', 'link', 'add', 'o0', 'type', 'veth', 'peer', 'name', 'held0', 'netns', String(pid)], { check: true });
        await lab.exec(outerNs, ['ip', 'addr', 'add', '198.19.0.1/24', 'dev', 'o0'], { check: true });
        await lab.exec(outerNs, ['ip', 'link', 'set', 'o0', 'up'], { check: true });
        await run('nsenter', ['-t', String(pid), '-n', 'ip', 'addr', 'add', '198.19.0.2/24', 'dev', 'held0']);
        await run('nsenter', ['-t', String(pid), '-n', 'ip', 'link', 'set', 'held0', 'up']);
        await waitFor(() => hookedAt(path, 'held0'), 5_000, 20);
        // A SYN into it (nothing listens: a reset comes back), counted at its hook.
        await lab.exec(outerNs, ['bash', '-c', 'timeout 2 bash -c "</dev/tcp/198.19.0.2/80"']);
        await new Promise((r) => setTimeout(r, 1200)); // a stats line after it
      } finally {
        await live.stop();
        holder.kill('SIGKILL');
      }
      const stats = live.lines.filter((l) => l.type === 'stats').at(-1) as (JsonLine & { traffic?: { byHook: { netns: string; iface: string; syns: number }[] } }) | undefined;
      expect(stats?.traffic?.byHook ?? []).toContainEqual(expect.objectContaining({ netns: `pid:${pid}`, iface: 'held0', syns: 1 }));
    });
  },
  { requires: [needAddon, needBtf] },
);
