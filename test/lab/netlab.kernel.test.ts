// Root-only: builds the lab topologies in network namespaces and checks what a
// user would check by hand (ping, ip route get, nstat, iperf3), and that
// nothing is left behind however a run ends.

import { spawn, execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { kernelDescribe, needLabTools } from '../helpers/kernel.js';
import { nstat, routeGet } from '../helpers/labs.js';
import { LabError, MARKER_DIR, NetLab, listNetns, reapStale, withLab } from '../../src/lab/netlab.js';
import { bridgePort, routedPath } from '../../src/lab/topologies.js';
import { pingDf, tcpTransfer, waitFor } from '../../src/lab/traffic.js';

const run = promisify(execFile);

// Labs a test creates; afterEach tears them down and checks nothing is left.
const labs: NetLab[] = [];
async function newLab(tag: string): Promise<NetLab> {
  const lab = await NetLab.create(tag);
  labs.push(lab);
  return lab;
}

async function leftovers(prefix: string): Promise<string[]> {
  return (await listNetns()).filter((n) => n.startsWith(`${prefix}-`));
}

kernelDescribe(
  'lab',
  () => {
    beforeAll(async () => {
      const r = await reapStale();
      if (r.reaped.length || r.skipped.length || r.unowned.length) console.warn('[lab] reapStale:', JSON.stringify(r));
    });

    afterEach(async () => {
      const mine = labs.splice(0);
      await Promise.all(mine.map((l) => l.teardown()));
      for (const l of mine) expect(await leftovers(l.prefix)).toEqual([]);
    });

    describe('NetLab', () => {
      it('creates namespaces and veths under a unique prefix; teardown removes them and is idempotent', async () => {
        const lab = await newLab('t');
        const other = await newLab('t');
        expect(lab.prefix).toMatch(new RegExp(`^pmtu-t-${process.pid}-[0-9a-f]{6}$`));
        expect(other.prefix).not.toBe(lab.prefix);
        expect(existsSync(join(MARKER_DIR, `${lab.prefix}.json`))).toBe(true);

        const a = await lab.addNs('a');
        const b = await lab.addNs('b', { forward: true });
        expect(a).toBe(`${lab.prefix}-a`);
        await lab.veth(a, 'to-b', b, 'to-a', { mtuA: 9000, mtuB: 1500 });
        expect(await leftovers(lab.prefix)).toEqual(expect.arrayContaining([a, b]));

        const link = await lab.exec(b, ['ip', '-j', 'link', 'show', 'to-a'], { check: true });
        const [info] = JSON.parse(link.stdout) as { mtu: number; operstate: string }[];
        expect(info?.mtu).toBe(1500);
        expect((await lab.exec(b, ['sysctl', '-n', 'net.ipv4.ip_forward'])).stdout.trim()).toBe('1');
        expect((await lab.exec(a, ['sysctl', '-n', 'net.ipv4.ip_forward'])).stdout.trim()).toBe('0');
        // The veth ends never appear in the root namespace.
        const root = await run('ip', ['-o', 'link', 'show']);
        expect(root.stdout).not.toMatch(/\bto-a\b|\bto-b\b/);

        await lab.teardown();
        await lab.teardown();
        expect(await leftovers(lab.prefix)).toEqual([]);
        expect(existsSync(join(MARKER_DIR, `${lab.prefix}.json`))).toBe(false);
        await expect(lab.addNs('c')).rejects.toBeInstanceOf(LabError);
      });

      it("teardown takes the clsact markers of its namespaces' qdiscs (a pmtu-watch killed with -9 cannot), and no one else's", async () => {
        const lab = await newLab('mk');
        const a = await lab.addNs('a');
        const inode = statSync(join('/run/netns', a)).ino;
        const dir = '/run/pmtu-watch/clsact';
        mkdirSync(dir, { recursive: true });
        const ours = join(dir, `${inode}-2-eth0`);
        const other = join(dir, `${inode + 1_000_000_000}-2-eth0`); // no namespace has this inode
        writeFileSync(ours, '');
        writeFileSync(other, '');
        try {
          await lab.teardown();
          expect(existsSync(ours)).toBe(false);
          expect(existsSync(other)).toBe(true);
        } finally {
          rmSync(other, { force: true });
          rmSync(ours, { force: true });
        }
      });

      it('exec returns non-zero exits, throws only with check, and kills on timeout', async () => {
        const lab = await newLab('t');
        const a = await lab.addNs('a');
        const r = await lab.exec(a, ['sh', '-c', 'echo out; echo err >&2; exit 3']);
        expect(r).toMatchObject({ code: 3, stdout: 'out\n', stderr: 'err\n', timedOut: false });
        await expect(lab.exec(a, ['false'], { check: true })).rejects.toThrow(/exited with 1/);
        const t0 = Date.now();
        const slow = await lab.exec(a, ['sleep', '20'], { timeoutMs: 300 });
        expect(slow.timedOut).toBe(true);
        expect(Date.now() - t0).toBeLessThan(3000);
        expect((await lab.exec(a, ['cat'], { input: 'hello' })).stdout).toBe('hello');
      });

      it('teardown stops spawned servers and anything else running in the namespaces', async () => {
        const lab = await newLab('t');
        const a = await lab.addNs('a');
        const server = lab.spawn(a, ['sleep', '30']);
        // A process the lab did not spawn itself, left running in the namespace.
        const stray = await lab.exec(a, ['sh', '-c', 'sleep 30 >/dev/null 2>&1 & echo $!'], { check: true });
        const strayPid = Number(stray.stdout.trim());
        expect(alive(server.pid)).toBe(true);
        expect(alive(strayPid)).toBe(true);
        await lab.teardown();
        await server.exited;
        await waitFor(() => !alive(strayPid), 3000);
      });

      it('withLab tears down when the body throws', async () => {
        let prefix = '';
        await expect(
          withLab('t', async (lab) => {
            prefix = lab.prefix;
            await routedPath(lab);
            throw new Error('boom');
          }),
        ).rejects.toThrow('boom');
        expect(prefix).not.toBe('');
        expect(await leftovers(prefix)).toEqual([]);
      });

      it('builders compose: two topologies side by side in one lab, told apart by id', async () => {
        const lab = await newLab('t');
        const p = await routedPath(lab, { id: 'x', ipv6: false });
        const b = await bridgePort(lab, { id: 'y', ipv6: false });
        expect(p.ns.c).toBe(`${lab.prefix}-xc`);
        expect(b.ns.hv).toBe(`${lab.prefix}-yhv`);
        expect(lab.netns).toHaveLength(7);
        expect((await pingDf(lab, p.ns.c, p.server.v4, { size: 56, count: 1 })).received).toBe(1);
        expect((await pingDf(lab, b.ns.g1, b.guests.g2.v4, { size: 56, count: 1 })).received).toBe(1);
      });

      it('rejects names that would not be unique or valid', async () => {
        const lab = await newLab('t');
        await expect(NetLab.create('Bad-Tag')).rejects.toBeInstanceOf(LabError);
        const a = await lab.addNs('a');
        await expect(lab.addNs('a')).rejects.toThrow(/exists already/);
        await expect(lab.addNs('a-b')).rejects.toBeInstanceOf(LabError);
        await expect(lab.veth(a, 'a-name-longer-than-15', a, 'x')).rejects.toThrow(/bad interface name/);
      });
    });

    describe('owning process ends', () => {
      // A child node process that builds a lab and waits; compiled from src/lab.
      let dir = '';
      beforeAll(async () => {
        dir = mkdtempSync(join(tmpdir(), 'pmtu-lab-test-'));
        const tsc = resolve('node_modules/typescript/bin/tsc');
        await run(process.execPath, [
          tsc,
          '--outDir', dir, '--rootDir', resolve('src'), '--module', 'nodenext', '--moduleResolution', 'nodenext',
          '--target', 'es2022', '--strict', '--skipLibCheck', '--types', 'node', resolve('src/lab/netlab.ts'),
        ]);
        writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
        writeFileSync(
          join(dir, 'child.mjs'),
          `import { NetLab } from './lab/netlab.js';
const lab = await NetLab.create('child');
const a = await lab.addNs('a');
await lab.addNs('b');
await lab.veth(a, 'x', lab.ns('b'), 'y');
const server = lab.spawn(a, ['sleep', '30']);
console.log(JSON.stringify({ prefix: lab.prefix, server: server.pid }));
if (process.argv[2] === 'exit') process.exit(3);
setTimeout(() => process.exit(4), 20000); // bounded even if nobody signals
`,
        );
      }, 60_000);
      afterAll(() => {
        if (dir) rmSync(dir, { recursive: true, force: true });
      });

      async function startChild(mode = ''): Promise<{ prefix: string; server: number; exit: Promise<{ code: number | null; signal: string | null }>; pid: number }> {
        const child = spawn(process.execPath, [join(dir, 'child.mjs'), mode], { stdio: ['ignore', 'pipe', 'inherit'] });
        const exit = new Promise<{ code: number | null; signal: string | null }>((res) => child.on('exit', (code, signal) => res({ code, signal })));
        const line = await new Promise<string>((res, rej) => {
          let buf = '';
          child.stdout.on('data', (d: Buffer) => {
            buf += d.toString();
            if (buf.includes('\n')) res(buf.split('\n')[0]!);
          });
          void exit.then(() => rej(new Error(`child exited before reporting: ${buf}`)));
        });
        return { ...(JSON.parse(line) as { prefix: string; server: number }), exit, pid: child.pid! };
      }

      for (const sig of ['SIGTERM', 'SIGINT'] as const) {
        it(`${sig}: the lab is torn down and the process still dies of the signal`, async () => {
          const c = await startChild();
          expect(await leftovers(c.prefix)).toHaveLength(2);
          process.kill(c.pid, sig);
          expect(await c.exit).toEqual({ code: null, signal: sig });
          expect(await leftovers(c.prefix)).toEqual([]);
          await waitFor(() => !alive(c.server), 3000);
          expect(existsSync(join(MARKER_DIR, `${c.prefix}.json`))).toBe(false);
        });
      }

      it('process.exit(): the lab is torn down', async () => {
        const c = await startChild('exit');
        expect(await c.exit).toEqual({ code: 3, signal: null });
        expect(await leftovers(c.prefix)).toEqual([]);
      });

      it('SIGKILL leaves namespaces that reapStale removes; live labs are left alone', async () => {
        const mine = await newLab('child');
        await mine.addNs('a');
        const c = await startChild();
        process.kill(c.pid, 'SIGKILL');
        await c.exit;
        expect(await leftovers(c.prefix)).toHaveLength(2);
        expect(alive(c.server)).toBe(true); // orphaned server inside the namespace

        const r = await reapStale('pmtu-child-');
        expect(r.reaped.sort()).toEqual([`${c.prefix}-a`, `${c.prefix}-b`]);
        expect(await leftovers(c.prefix)).toEqual([]);
        await waitFor(() => !alive(c.server), 3000);
        expect(existsSync(join(MARKER_DIR, `${c.prefix}.json`))).toBe(false);
        expect(await leftovers(mine.prefix)).toEqual([`${mine.prefix}-a`]);
      });
    });

    describe('routedPath c — r1 — r2 — s (9000 / 1500 / 9000)', () => {
      it('is dual-stack end to end with the MTUs asked for', async () => {
        const lab = await newLab('rp');
        const p = await routedPath(lab);
        expect(p.links.cR1.a).toMatchObject({ ns: p.ns.c, ifname: 'to-r1', mtu: 9000, v4: '198.18.1.2', v6: '2001:db8:1::2' });
        expect(p.links.r1R2.a.mtu).toBe(1500);
        expect(p.links.r1R2.b.mtu).toBe(1500);
        expect(p.server).toEqual({ ns: p.ns.s, ifname: 'to-r2', v4: '198.18.3.2', v6: '2001:db8:3::2' });
        for (const dst of [p.server.v4, p.server.v6!]) {
          const r = await pingDf(lab, p.ns.c, dst, { size: 56, count: 2, intervalS: 0.1 });
          expect(r, r.output).toMatchObject({ transmitted: 2, received: 2 });
        }
        // 1472 + 28 = 1500 fits the bottleneck; nothing outside the lab's ranges is routed.
        expect((await pingDf(lab, p.ns.c, p.server.v4, { size: 1472, count: 2, intervalS: 0.1 })).received).toBe(2);
        const out = await lab.exec(p.ns.c, ['ip', 'route', 'get', '192.0.2.1']);
        expect(out.code).not.toBe(0);
      });

      it('PTB honored: ping -M do -s 4000 reports Frag needed, mtu 1500, and the route caches it (v4 and v6)', async () => {
        const lab = await newLab('rp');
        const p = await routedPath(lab);
        const v4 = await pingDf(lab, p.ns.c, p.server.v4, { size: 4000, count: 3, intervalS: 0.1 });
        expect(v4, v4.output).toMatchObject({ received: 0, fragNeeded: true, pmtu: 1500 });
        expect(v4.output).toContain(`From ${p.ptb.v4}`);
        expect(await routeGet(lab, p.ns.c, p.server.v4)).toMatch(/\bmtu 1500\b/);
        const v6 = await pingDf(lab, p.ns.c, p.server.v6!, { size: 4000, count: 3, intervalS: 0.1 });
        expect(v6, v6.output).toMatchObject({ received: 0, fragNeeded: true, pmtu: 1500 });
        expect(await routeGet(lab, p.ns.c, p.server.v6!)).toMatch(/\bmtu 1500\b/);
        // TCP adapts: a 1 s upload moves plenty.
        const t = await tcpTransfer(lab, { serverNs: p.ns.s, clientNs: p.ns.c, serverAddr: p.server.v4, seconds: 1 });
        expect(t.ok, t.error).toBe(true);
        expect(t.bytesReceived).toBeGreaterThan(10_000_000);
      });

      it('PTB from a management address is honored without rp_filter', async () => {
        const lab = await newLab('rp');
        const p = await routedPath(lab, { ptbSource: 'mgmt' });
        expect(p.ptb).toMatchObject({ ns: p.ns.r1, v4: '198.19.0.1', v6: '2001:db8:ff::1' });
        expect(p.mgmt?.link.a).toMatchObject({ ns: p.ns.c, ifname: 'mgmt0' });
        // c routes the management address out of mgmt0, not back toward r1.
        expect(await routeGet(lab, p.ns.c, '198.19.0.1')).toMatch(/dev mgmt0/);
        const v4 = await pingDf(lab, p.ns.c, p.server.v4, { size: 4000, count: 2, intervalS: 0.1 });
        expect(v4.output).toMatch(/From 198\.19\.0\.1 .*Frag needed/);
        expect(await routeGet(lab, p.ns.c, p.server.v4)).toMatch(/\bmtu 1500\b/);
      });

      it('rp_filter on c eats the PTB from the management address: no Frag needed, no cached MTU, upload stalls', async () => {
        const lab = await newLab('rp');
        const p = await routedPath(lab, { ptbSource: 'mgmt', rpFilterOnClient: true });
        const small = await pingDf(lab, p.ns.c, p.server.v4, { size: 56, count: 2, intervalS: 0.1 });
        expect(small.received).toBe(2);
        const before = await nstat(lab, p.ns.c, 'TcpExtIPReversePathFilter');
        const big = await pingDf(lab, p.ns.c, p.server.v4, { size: 4000, count: 3, intervalS: 0.1, deadlineS: 1.5 });
        expect(big, big.output).toMatchObject({ transmitted: 3, received: 0, errors: 0, fragNeeded: false });
        expect(big.pmtu).toBeUndefined();
        expect(await routeGet(lab, p.ns.c, p.server.v4)).not.toMatch(/\bmtu\b/);
        expect((await nstat(lab, p.ns.c, 'TcpExtIPReversePathFilter')) - before).toBe(3);
        // rp_filter is IPv4 only: the ICMPv6 PTB from the same router gets through.
        const v6 = await pingDf(lab, p.ns.c, p.server.v6!, { size: 4000, count: 2, intervalS: 0.1 });
        expect(v6).toMatchObject({ fragNeeded: true, pmtu: 1500 });
        // TCP: the upload (c sends full-size segments) stalls; the download (r2's PTB to s) works.
        const up = await tcpTransfer(lab, { serverNs: p.ns.s, clientNs: p.ns.c, serverAddr: p.server.v4, seconds: 2 });
        expect(up.bytesReceived).toBeLessThan(1_000_000);
        const down = await tcpTransfer(lab, { serverNs: p.ns.s, clientNs: p.ns.c, serverAddr: p.server.v4, seconds: 1, reverse: true });
        expect(down.bytesReceived).toBeGreaterThan(10_000_000);
      });

      it("mgmtSide 'server': r2 sends s its PTBs from the management address; s's strict rp_filter eats them (v4 only)", async () => {
        const lab = await newLab('rp');
        const open = await routedPath(lab, { ptbSource: 'mgmt', mgmtSide: 'server', id: 'o' });
        expect(open.serverPtb).toMatchObject({ ns: open.ns.r2, ifname: 'to-s', v4: '198.19.0.1', v6: '2001:db8:ff::1' });
        expect(open.ptb).toMatchObject({ ns: open.ns.r1, v4: '198.18.1.1' }); // c's side is untouched
        expect(open.mgmt).toMatchObject({ side: 'server', link: { a: { ns: open.ns.s, ifname: 'mgmt0' } } });
        expect(await routeGet(lab, open.ns.s, '198.19.0.1')).toMatch(/dev mgmt0/);
        const honored = await pingDf(lab, open.ns.s, open.client.v4, { size: 4000, count: 2, intervalS: 0.1 });
        expect(honored.output).toMatch(/From 198\.19\.0\.1 .*Frag needed/);

        const strict = await routedPath(lab, { ptbSource: 'mgmt', mgmtSide: 'server', rpFilterOnServer: true, id: 'x' });
        expect(strict.rpFilterOnServer).toBe(true);
        const big = await pingDf(lab, strict.ns.s, strict.client.v4, { size: 4000, count: 2, intervalS: 0.1, deadlineS: 1.5 });
        expect(big, big.output).toMatchObject({ received: 0, errors: 0, fragNeeded: false });
        expect(await nstat(lab, strict.ns.s, 'TcpExtIPReversePathFilter')).toBe(2);
        const v6 = await pingDf(lab, strict.ns.s, strict.client.v6!, { size: 4000, count: 2, intervalS: 0.1 });
        expect(v6).toMatchObject({ fragNeeded: true, pmtu: 1500 });
      });

      it('firstNet moves the three subnets (v4 and v6) so two paths can share one observer', async () => {
        const lab = await newLab('rp');
        const p = await routedPath(lab, { firstNet: 7, id: 'f' });
        expect(p.client).toMatchObject({ v4: '198.18.7.2', v6: '2001:db8:7::2' });
        expect(p.links.r1R2.a).toMatchObject({ v4: '198.18.8.1', v6: '2001:db8:8::1' });
        expect(p.server).toMatchObject({ v4: '198.18.9.2', v6: '2001:db8:9::2' });
        for (const dst of [p.server.v4, p.server.v6!]) {
          const r = await pingDf(lab, p.ns.c, dst, { size: 4000, count: 2, intervalS: 0.1 });
          expect(r, r.output).toMatchObject({ fragNeeded: true, pmtu: 1500 });
        }
        await expect(routedPath(lab, { firstNet: 253, id: 'g' })).rejects.toThrow(/firstNet/);
      });

      it('rp_filter alone does not drop a PTB sourced from the router interface', async () => {
        const lab = await newLab('rp');
        const p = await routedPath(lab, { rpFilterOnClient: true });
        const big = await pingDf(lab, p.ns.c, p.server.v4, { size: 4000, count: 2, intervalS: 0.1 });
        expect(big).toMatchObject({ fragNeeded: true, pmtu: 1500 });
      });

      for (const [what, opts] of [
        ['r1 blocks its own ICMP output (silent black hole)', { blockIcmpOnRouter: true }],
        ["c's firewall drops incoming PTBs", { dropPtbOnClient: true }],
      ] as const) {
        it(`${what}: large DF packets vanish without a PTB, v4 and v6`, async () => {
          const lab = await newLab('rp');
          const p = await routedPath(lab, opts);
          expect((await pingDf(lab, p.ns.c, p.server.v4, { size: 1000, count: 2, intervalS: 0.1 })).received).toBe(2);
          for (const dst of [p.server.v4, p.server.v6!]) {
            const big = await pingDf(lab, p.ns.c, dst, { size: 4000, count: 3, intervalS: 0.1, deadlineS: 1.5 });
            expect(big, big.output).toMatchObject({ transmitted: 3, received: 0, fragNeeded: false });
            expect(big.pmtu).toBeUndefined();
            expect(await routeGet(lab, p.ns.c, dst)).not.toMatch(/\bmtu\b/);
          }
        });
      }

      it('MSS clamping on r1 gets TCP through the rp_filter black hole; s sees SYNs with MSS 1460', async () => {
        const lab = await newLab('rp');
        const p = await routedPath(lab, { ptbSource: 'mgmt', rpFilterOnClient: true, clampMssOnRouter: true });
        expect(p.mssClamp).toEqual({ ns: p.ns.r1, v4: 1460, v6: 1440 });
        const dump = lab.spawn(p.ns.s, ['timeout', '10', 'tcpdump', '-lni', 'to-r2', '-c', '1', 'tcp[tcpflags] == tcp-syn']);
        await waitFor(() => dump.output().stderr.includes('listening on'), 5000);
        const up = await tcpTransfer(lab, { serverNs: p.ns.s, clientNs: p.ns.c, serverAddr: p.server.v4, seconds: 1 });
        expect(up.bytesReceived).toBeGreaterThan(10_000_000);
        const seen = await dump.exited;
        expect(seen.stdout).toMatch(/ > 198\.18\.3\.2\.\d+: Flags \[S\].*\bmss 1460\b/);
      });

      it('healthy path (bottleneck at 9000): large DF pings pass', async () => {
        const lab = await newLab('rp');
        const p = await routedPath(lab, { bottleneckMtu: 9000, ipv6: false });
        expect(p.server.v6).toBeUndefined();
        const big = await pingDf(lab, p.ns.c, p.server.v4, { size: 8972, count: 2, intervalS: 0.1 });
        expect(big, big.output).toMatchObject({ transmitted: 2, received: 2, errors: 0 });
      });
    });

    describe('bridgePort: bridge at 9000, g2 port at 1500', () => {
      it('keeps the bridge at 9000 and drops jumbo frames at the port without ICMP (v4 and v6)', async () => {
        const lab = await newLab('br');
        const b = await bridgePort(lab);
        const links = JSON.parse((await lab.exec(b.ns.hv, ['ip', '-j', 'link', 'show'], { check: true })).stdout) as {
          ifname: string;
          mtu: number;
          master?: string;
        }[];
        const by = (n: string) => links.find((l) => l.ifname === n);
        expect(by('br0')?.mtu).toBe(9000);
        expect(by('p-g1')).toMatchObject({ mtu: 9000, master: 'br0' });
        expect(by('p-g2')).toMatchObject({ mtu: 1500, master: 'br0' });
        expect(b.guests.g2.mtu).toBe(9000);

        for (const dst of [b.guests.g2.v4, b.guests.g2.v6!]) {
          const small = await pingDf(lab, b.ns.g1, dst, { size: 1000, count: 3, intervalS: 0.1 });
          expect(small, small.output).toMatchObject({ transmitted: 3, received: 3 });
          const big = await pingDf(lab, b.ns.g1, dst, { size: 8000, count: 3, intervalS: 0.1, deadlineS: 1.5 });
          expect(big, big.output).toMatchObject({ transmitted: 3, received: 0, errors: 0, fragNeeded: false });
        }
      });
    });
  },
  { requires: [needLabTools] },
);

/** Running (a zombie waiting for a reaper counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
