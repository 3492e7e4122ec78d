// `pmtu-watch audit` against real namespaces: each misconfiguration of
// SCENARIOS 3, 6, 7 and 8 is built with the lab's topologies (no traffic at
// all), audited, and its finding checked; then the printed fix commands are
// run and the audit comes back clean. A consistent topology yields nothing.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, expect, it } from 'vitest';

import type { AuditResult, Finding } from '../../src/audit/types.js';
import { main } from '../../src/cli/main.js';
import type { NetLab } from '../../src/lab/netlab.js';
import { bridgePort, nestedContainers, routedPath, vxlanOverlay, wire } from '../../src/lab/topologies.js';
import { kernelDescribe, needAddon, needCommands, needLabTools } from '../helpers/kernel.js';
import { useLabs } from '../helpers/labs.js';

const run = promisify(execFile);

interface AuditRun {
  code: number;
  result: AuditResult;
  err: string[];
}

async function auditJson(args: string[]): Promise<AuditRun> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['node', 'pmtu-watch', 'audit', '--json', ...args], { out: (l) => out.push(l), err: (l) => err.push(l) });
  expect(out, err.join('\n')).toHaveLength(1);
  return { code, result: JSON.parse(out[0]!) as AuditResult, err };
}

function netnsArgs(lab: NetLab): string[] {
  return lab.netns.flatMap((n) => ['--netns', n]);
}

/** Runs the preferred fix of every finding at or above `severity` (each command once), as a user would paste them. */
async function applyFixes(findings: Finding[], severity: 'warning' | 'error'): Promise<string[]> {
  const commands = [...new Set(findings.filter((f) => severity === 'warning' || f.severity === 'error').map((f) => f.fix.find((c) => /^(ip|sysctl|nsenter) /.test(c))!))];
  for (const cmd of commands) await run('sh', ['-c', cmd], { timeout: 10_000 });
  return commands;
}

function brief(findings: Finding[]): string[] {
  return findings.map((f) => `${f.severity} ${f.rule} ${f.netns}/${f.device}`).sort();
}

kernelDescribe(
  'pmtu-watch audit',
  () => {
    const labs = useLabs();

    it('a consistent dual-stack routed path (9000 everywhere) has no findings, exit 0, and each route lists its MSS', async () => {
      const lab = await labs.create('audok');
      await routedPath(lab, { hostMtu: 9000, bottleneckMtu: 9000 });
      const { code, result } = await auditJson(netnsArgs(lab));
      expect(result.findings).toEqual([]);
      expect(code).toBe(0);
      expect(result.scope.sort()).toEqual([...lab.netns].sort());
      const client = lab.netns.find((n) => n.endsWith('-c'))!;
      expect(result.routes).toContainEqual(expect.objectContaining({ netns: client, family: 4, device: 'to-r1', mtu: 9000, mss: 8960, chainMtu: 9000 }));
      expect(result.routes).toContainEqual(expect.objectContaining({ netns: client, family: 6, device: 'to-r1', mss: 8940 }));
    });

    it('bridge port at 1500 under a 9000 bridge (seed 000): bridge-port-mtu and the unequal veth, exit 1; the fix clears both', async () => {
      const lab = await labs.create('audbr');
      const t = await bridgePort(lab);
      const { code, result } = await auditJson(netnsArgs(lab));
      expect(code).toBe(1);
      expect(brief(result.findings)).toEqual([
        `error bridge-port-mtu ${t.ns.hv}/p-g2`,
        `error veth-mtu-mismatch ${t.ns.hv}/p-g2`,
        // g2 advertises 8960 (IPv4) and 8940 (IPv6) through a port that carries 1500.
        `warning mss-exceeds-chain ${t.ns.g2}/eth0`,
        `warning mss-exceeds-chain ${t.ns.g2}/eth0`,
      ]);
      expect(result.findings.filter((f) => f.rule === 'mss-exceeds-chain').map((f) => f.numbers.mss).sort()).toEqual([8940, 8960]);
      const port = result.findings.find((f) => f.rule === 'bridge-port-mtu')!;
      expect(port.numbers).toEqual({ bridgeMtu: 9000, largestMtu: 9000, portMtu: 1500 });
      expect(port.related).toEqual([{ netns: t.ns.hv, device: 'br0' }]);
      const veth = result.findings.find((f) => f.rule === 'veth-mtu-mismatch')!;
      expect(veth.related).toEqual([{ netns: t.ns.g2, device: 'eth0' }]);
      expect(await applyFixes(result.findings, 'error')).toEqual([`ip -n ${t.ns.hv} link set dev p-g2 mtu 9000`]);
      const after = await auditJson(netnsArgs(lab));
      expect(after.result.findings).toEqual([]);
      expect(after.code).toBe(0);
    });

    it("nested containers with the seed's numbers (003): the pod's inner bridge above its way out, and nothing else", async () => {
      const lab = await labs.create('audseed');
      const t = await nestedContainers(lab);
      const { code, result } = await auditJson(['--netns', t.ns.h, '--netns', t.ns.d, '--netns', t.ns.i]);
      expect(code).toBe(0); // a warning
      expect(brief(result.findings)).toEqual([`warning bridge-above-uplink ${t.ns.d}/docker0`]);
      expect(result.findings[0]).toMatchObject({ numbers: { bridgeMtu: 1500, uplinkMtu: 1450 }, related: [{ netns: t.ns.d, device: 'eth0' }] });
    });

    it('nested containers, the pod pair left unequal: the unequal veth is found from the inner side alone, with the MSS it breaks', async () => {
      const lab = await labs.create('audnest');
      const t = await nestedContainers(lab, { hostSideMtu: 1500 });
      // Only the dind container: its eth0's peer lives in h, outside the scope.
      const inner = await auditJson(['--netns', t.ns.d]);
      expect(brief(inner.result.findings)).toEqual([`error veth-mtu-mismatch ${t.ns.h}/veth-d`, `warning bridge-above-uplink ${t.ns.d}/docker0`]);
      expect(inner.result.findings[0]).toMatchObject({ numbers: { mtu: 1500, peerMtu: 1450 }, related: [{ netns: t.ns.d, device: 'eth0' }] });
      const all = await auditJson(netnsArgs(lab));
      expect(brief(all.result.findings)).toEqual([`error veth-mtu-mismatch ${t.ns.h}/veth-d`, `warning bridge-above-uplink ${t.ns.d}/docker0`, `warning mss-exceeds-chain ${t.ns.h}/veth-d`]);
      expect(all.result.findings.find((f) => f.rule === 'mss-exceeds-chain')).toMatchObject({
        numbers: { mss: 1460, chainMtu: 1450, maxMss: 1410 },
        related: [{ netns: t.ns.d, device: 'eth0' }],
      });
      await applyFixes(all.result.findings, 'error');
      expect(brief((await auditJson(netnsArgs(lab))).result.findings)).toEqual([`warning bridge-above-uplink ${t.ns.d}/docker0`]); // the routed step stays
    });

    it('VXLAN at 1500 over a 1500 underlay (seed 001): tunnel-overhead on both nodes, 50 bytes, room for 1450', async () => {
      const lab = await labs.create('audvx');
      const t = await vxlanOverlay(lab);
      const { code, result } = await auditJson(netnsArgs(lab));
      expect(code).toBe(1);
      const tunnels = result.findings.filter((f) => f.rule === 'tunnel-overhead');
      expect(tunnels.map((f) => `${f.netns}/${f.device}`).sort()).toEqual([`${t.ns.n1}/vxlan0`, `${t.ns.n2}/vxlan0`]);
      for (const f of tunnels) {
        expect(f.numbers).toEqual({ mtu: 1500, overhead: 50, underlayMtu: 1500, maxMtu: 1450 });
        expect(f.related).toEqual([{ netns: f.netns, device: 'eth0' }]);
      }
      // Routes to the other node's pods go through vxlan0 and advertise 1460.
      expect(result.findings.filter((f) => f.rule === 'mss-exceeds-chain').map((f) => f.device)).toEqual(['vxlan0', 'vxlan0']);
      await applyFixes(result.findings, 'error');
      expect((await auditJson(netnsArgs(lab))).result.findings).toEqual([]);
    });

    it("VXLAN at 1450 over a 9000 underlay (seed 001's first half, Calico's default): tunnel-below-underlay, info, room for 8950; the printed ip fix clears it", async () => {
      const lab = await labs.create('audlow');
      const t = await vxlanOverlay(lab, { underlayMtu: 9000, vxlanMtu: 1450, podMtu: 1450 });
      const { code, result } = await auditJson(netnsArgs(lab));
      expect(code).toBe(0); // info only
      const low = result.findings.filter((f) => f.rule === 'tunnel-below-underlay');
      expect(low.map((f) => `${f.severity} ${f.netns}/${f.device}`).sort()).toEqual([`info ${t.ns.n1}/vxlan0`, `info ${t.ns.n2}/vxlan0`]);
      expect(low[0]!.numbers).toEqual({ mtu: 1450, underlayMtu: 9000, maxMtu: 8950 });
      for (const f of low) await run('sh', ['-c', f.fix[1]!], { timeout: 10_000 });
      expect((await auditJson(netnsArgs(lab))).result.findings.filter((f) => f.rule === 'tunnel-below-underlay')).toEqual([]);
    });

    it('--save on a good day, an MTU reset under the running hypervisor (seed 000), --against names the port and the old MTU; its fix restores it', async () => {
      const lab = await labs.create('audbase');
      const t = await bridgePort(lab, { portMtu: 9000 });
      const file = join(mkdtempSync(join(tmpdir(), 'pmtu-baseline-')), 'good.json');
      try {
        const saved = await auditJson([...netnsArgs(lab), '--save', file]);
        expect(saved.err.join('\n')).toContain(`kept the configuration of ${lab.netns.length} namespace(s) in ${file}`);
        expect((await auditJson([...netnsArgs(lab), '--against', file])).result.findings.filter((f) => f.rule === 'differs-from-baseline')).toEqual([]);
        await lab.exec(t.ns.hv, ['ip', 'link', 'set', 'dev', 'p-g2', 'mtu', '1500'], { check: true }); // the upgrade
        const { result } = await auditJson([...netnsArgs(lab), '--against', file]);
        const changed = result.findings.filter((f) => f.rule === 'differs-from-baseline');
        expect(changed.map((f) => `${f.severity} ${f.netns}/${f.device} ${f.summary.split(' (the baseline')[0]}`)).toEqual([`warning ${t.ns.hv}/p-g2 p-g2 MTU 9000 -> 1500`]);
        expect(changed[0]!.fix).toEqual([`ip -n ${t.ns.hv} link set dev p-g2 mtu 9000`]);
        await applyFixes(changed, 'warning');
        expect((await auditJson([...netnsArgs(lab), '--against', file])).result.findings).toEqual([]);
      } finally {
        rmSync(dirname(file), { recursive: true, force: true });
      }
    });

    it("a guest's port left with no master after its bridge restarted (seed 002): port-without-bridge; the printed fix puts it back", async () => {
      const lab = await labs.create('audbr');
      const hv = await lab.addNs('hv');
      const guest = await lab.addNs('ct101');
      await lab.exec(hv, ['ip', 'link', 'add', 'vmbr0', 'mtu', '1500', 'type', 'bridge'], { check: true });
      await lab.veth(hv, 'veth101i0', guest, 'eth0');
      await lab.exec(hv, ['ip', 'link', 'set', 'veth101i0', 'master', 'vmbr0'], { check: true });
      for (const d of ['vmbr0', 'veth101i0']) await lab.exec(hv, ['ip', 'link', 'set', d, 'up'], { check: true });
      expect((await auditJson(['--netns', hv])).result.findings.filter((f) => f.rule === 'port-without-bridge')).toEqual([]);
      // What ifdown/ifup of a bridge leaves behind: the bridge back, its guest ports not in it.
      await lab.exec(hv, ['ip', 'link', 'del', 'vmbr0'], { check: true });
      await lab.exec(hv, ['ip', 'link', 'add', 'vmbr0', 'mtu', '1500', 'type', 'bridge'], { check: true });
      await lab.exec(hv, ['ip', 'link', 'set', 'vmbr0', 'up'], { check: true });
      const { code, result } = await auditJson(['--netns', hv]);
      expect(code).toBe(1);
      const lost = result.findings.filter((f) => f.rule === 'port-without-bridge');
      expect(brief(lost)).toEqual([`error port-without-bridge ${hv}/veth101i0`]);
      expect(lost[0]!.fix[0]).toBe(`ip -n ${hv} link set veth101i0 master vmbr0`);
      await applyFixes(lost, 'error');
      expect((await auditJson(['--netns', hv])).result.findings.filter((f) => f.rule === 'port-without-bridge')).toEqual([]);
    });

    it('strict rp_filter on a multi-homed server (seed 001, its SVI half): a warning, exit 0 by default and 1 with --fail-on warning; loose clears it', async () => {
      const lab = await labs.create('audrp');
      const t = await routedPath(lab, { ptbSource: 'mgmt', mgmtSide: 'server', rpFilterOnServer: true });
      const s = t.ns.s;
      const byDefault = await auditJson(netnsArgs(lab));
      expect(brief(byDefault.result.findings)).toEqual([`warning rp-filter-multihomed ${s}/to-r2`]);
      expect(byDefault.code).toBe(0);
      const f = byDefault.result.findings[0]!;
      expect(f.numbers).toEqual({ rpFilterAll: 1, rpFilter: 1 });
      expect(f.related).toEqual([{ netns: s, device: 'mgmt0' }]);
      expect(f.summary).toContain('198.19.0.0/24 via mgmt0');
      expect((await auditJson([...netnsArgs(lab), '--fail-on', 'warning'])).code).toBe(1);
      expect(await applyFixes([f], 'warning')).toEqual([`ip netns exec ${s} sysctl -w net.ipv4.conf.to-r2.rp_filter=2`]);
      expect((await auditJson(netnsArgs(lab))).result.findings).toEqual([]);
    });

    it('route mtu and advmss above the device: errors with the route named; the printed `ip route change` fixes them', async () => {
      const lab = await labs.create('audrt');
      const a = await lab.addNs('a');
      const b = await lab.addNs('b');
      await wire(lab, { ns: a, ifname: 'eth0', mtu: 1500, v4: '198.18.60.1/24', v6: '2001:db8:60::1/64' }, { ns: b, ifname: 'eth0', mtu: 1500, v4: '198.18.60.2/24', v6: '2001:db8:60::2/64' });
      await lab.route(a, ['add', '198.18.61.0/24', 'via', '198.18.60.2', 'mtu', '9000']);
      await lab.ip(a, ['-6', 'route', 'add', '2001:db8:61::/64', 'via', '2001:db8:60::2', 'advmss', '8940']);
      const { code, result } = await auditJson(['--netns', a]);
      expect(code).toBe(1);
      expect(result.findings.map((f) => [f.rule, f.numbers])).toEqual([
        ['route-mtu-above-device', { routeMtu: 9000, deviceMtu: 1500 }],
        ['route-advmss-above-device', { advmss: 8940, deviceMtu: 1500, maxMss: 1440 }],
      ]);
      expect(result.findings[0]!.summary).toContain('198.18.61.0/24 via 198.18.60.2 dev eth0');
      await applyFixes(result.findings, 'error');
      expect((await auditJson(['--netns', a])).result.findings).toEqual([]);
    });

    const holders: ChildProcess[] = [];
    afterEach(() => {
      for (const p of holders.splice(0)) p.kill('SIGKILL');
    });

    it('--all-netns reaches a namespace held only by a process (a container), labelled by pid, with nsenter fixes', async () => {
      // unshare -n: a namespace no `ip netns` name points at; sleep bounds it even if the kill is missed.
      const holder = spawn('unshare', ['-n', 'sleep', '60'], { stdio: 'ignore' });
      holders.push(holder);
      const pid = holder.pid!;
      // Wait until sleep runs inside its own namespace.
      const deadline = Date.now() + 5_000;
      const selfNs = (await run('readlink', ['/proc/self/ns/net'])).stdout.trim();
      for (;;) {
        const ns = await run('readlink', [`/proc/${pid}/ns/net`]).then((r) => r.stdout.trim(), () => '');
        const comm = await run('cat', [`/proc/${pid}/comm`]).then((r) => r.stdout.trim(), () => '');
        if (ns && ns !== selfNs && comm === 'sleep') break;
        if (Date.now() > deadline) throw new Error('unshare -n sleep did not start');
        await new Promise((r) => setTimeout(r, 50));
      }
      const enter = (args: string[]) => run('nsenter', ['-t', String(pid), '-n', 'ip', ...args]);
      await enter(['link', 'add', 'pa', 'mtu', '9000', 'type', 'veth', 'peer', 'name', 'pb', 'mtu', '1500']);
      const { result } = await auditJson(['--all-netns']);
      const mine = result.findings.filter((f) => f.netns === `pid:${pid}`);
      expect(brief(mine)).toEqual([`error veth-mtu-mismatch pid:${pid}/pa`]);
      expect(mine[0]!.fix[0]).toBe(`nsenter -t ${pid} -n ip link set dev pa mtu 1500`);
      expect(result.scope).toContain(`pid:${pid}`);
      await applyFixes(mine, 'error');
      expect((await auditJson(['--all-netns'])).result.findings.filter((f) => f.netns === `pid:${pid}`)).toEqual([]);
    });

    it('an unknown --netns is one line and exit 2; text output ends with the counts', async () => {
      const err: string[] = [];
      const out: string[] = [];
      const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
      expect(await main(['node', 'pmtu-watch', 'audit', '--netns', 'pmtu-no-such-namespace'], io)).toBe(2);
      expect(err).toHaveLength(1);
      expect(err[0]).toMatch(/^pmtu-watch: no network namespace named "pmtu-no-such-namespace"/);
      const lab = await labs.create('audtxt');
      const t = await bridgePort(lab);
      expect(await main(['node', 'pmtu-watch', 'audit', ...netnsArgs(lab), '--routes'], io)).toBe(1);
      const text = out.join('\n');
      expect(text).toContain(`ERROR   bridge-port-mtu  ${t.ns.hv}/p-g2`);
      expect(text).toContain(`fix: ip -n ${t.ns.hv} link set dev p-g2 mtu 9000`);
      expect(text).toMatch(/NETNS\s+ROUTE\s+DEV\s+MTU\s+SYN MSS\s+CHAIN MTU\s+SMALLEST AT/);
      expect(out.at(-1)).toBe('2 errors, 2 warnings, 0 info in 3 namespaces');
    });
  },
  { requires: [needAddon, needLabTools, needCommands('unshare', 'nsenter')] },
);
