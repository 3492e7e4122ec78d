// `pmtu-watch lab` as a user runs it, one process per command: list, up in
// one process and down in another, refusals, what dead owners leave behind,
// Ctrl-C while building; and a demo that prints the verdict and leaves
// nothing behind, also when interrupted.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';

import { afterAll, beforeAll, expect, it } from 'vitest';

import { NetLab, reapStale, selfIdentity } from '../../src/lab/netlab.js';
import { STATE_DIR, formatState, readState, removeState, statePath, type LabState } from '../../src/lab/state.js';
import { kernelDescribe, needAddon, needBtf, needCommands, needLabTools } from '../helpers/kernel.js';
import { BIN } from '../helpers/live.js';

function pmtuWatch(...args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
}

/** Named namespaces, straight from /run/netns (what `ip netns list` reads). */
const namespaces = (): string[] => (existsSync('/run/netns') ? readdirSync('/run/netns') : []);
const ofPid = (pid: number) => namespaces().filter((n) => n.startsWith(`pmtu-lab-${pid}-`) || n.startsWith(`pmtu-demo-${pid}-`));
const markersOf = (pid: number) => (existsSync(STATE_DIR) ? readdirSync(STATE_DIR).filter((f) => f.includes(`-${pid}-`)) : []);

/** Runs the command, sends `signal` once `ready()` holds (polled every 5 ms), and returns how it ended. */
async function interrupt(args: string[], ready: (pid: number) => boolean, signal: NodeJS.Signals = 'SIGINT', maxMs = 30_000) {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, sig) => resolve({ code, signal: sig })));
  let sent = false;
  const t0 = Date.now();
  while (child.exitCode === null && child.signalCode === null && Date.now() - t0 < maxMs) {
    if (ready(child.pid!)) {
      child.kill(signal);
      sent = true;
      break;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  if (!sent) child.kill('SIGKILL');
  const end = await exited;
  return { ...end, sent, out, pid: child.pid! };
}

/** A pid that was a process of ours a moment ago and is no more. */
function deadPid(): number {
  const r = spawnSync('true');
  return r.pid!;
}

kernelDescribe(
  'pmtu-watch lab: list, up, down',
  () => {
    beforeAll(async () => {
      await reapStale();
    });
    afterAll(async () => {
      for (const name of ['bridge-port', 'firewall', 'healthy']) await NetLab.removePersistent(name);
      for (const name of ['bridge-port', 'firewall', 'healthy']) removeState(name);
    });

    it('lists the twelve scenarios: number, name, title, then what each builds', () => {
      const r = pmtuWatch('lab', 'list');
      expect(r.status).toBe(0);
      const heads = r.stdout.split('\n').filter((l) => /^\s?\d+ {2}/.test(l));
      expect(heads).toHaveLength(12);
      expect(heads[0]).toMatch(/^ 1 {2}healthy {12}Healthy paths/);
      expect(heads[2]).toMatch(/^ 3 {2}rp-filter {10}PTB eaten by strict rp_filter \(seed 001, its SVI half\)/);
      expect(heads[9]).toMatch(/^10 {2}mss-clamp/);
      expect(heads[10]).toMatch(/^11 {2}bridge-restart/);
      expect(heads[11]).toMatch(/^12 {2}decap-rp-filter/);
      expect(r.stdout).toContain("    Seed 001's second half (an Arista SVI at 1500 between 9000 hosts");
    });

    it('up leaves a scenario running after it exits; a second up refuses; down from another process removes it', () => {
      const up = pmtuWatch('lab', 'up', 'bridge-port');
      expect(up.status, up.stderr).toBe(0);
      const hv = /^ {2}hv +(\S+)$/m.exec(up.stdout)?.[1];
      expect(hv).toMatch(/^pmtu-lab-\d+-[0-9a-f]{6}-hv$/);
      expect(up.stdout).toMatch(/^addresses:\n {2}g1 +198\.18\.10\.1\n {2}g2 +198\.18\.10\.2$/m);
      expect(up.stdout).toContain(`ip netns exec ${hv!.replace(/hv$/, 'g1')} ping -M do -s 8000 -c 3 198.18.10.2`);
      expect(up.stdout).toContain('remove it with: pmtu-watch lab down bridge-port');
      // Alive after its process exited, and recorded.
      expect(namespaces()).toEqual(expect.arrayContaining([hv, hv!.replace(/hv$/, 'g1'), hv!.replace(/hv$/, 'g2')]));
      const state = readState('bridge-port')!;
      expect(state).toMatchObject({ scenario: 'bridge-port', number: 6, status: 'up', ns: { hv } });
      // And it works: the jumbo ping dies at the port, a full-size one passes.
      const g1 = state.ns.g1!;
      expect(spawnSync('ip', ['netns', 'exec', g1, 'ping', '-M', 'do', '-s', '1472', '-c', '1', '-W', '1', '198.18.10.2']).status).toBe(0);
      expect(spawnSync('ip', ['netns', 'exec', g1, 'ping', '-M', 'do', '-s', '8000', '-c', '1', '-W', '1', '198.18.10.2']).status).toBe(1);

      const again = pmtuWatch('lab', 'up', '6');
      expect(again.status).toBe(1);
      expect(again.stderr).toBe('pmtu-watch: scenario bridge-port is up already (pmtu-watch lab down bridge-port removes it)\n');
      expect(pmtuWatch('lab', 'list').stdout).toMatch(/^ 6 {2}bridge-port .*\[up\]$/m);

      const down = pmtuWatch('lab', 'down', 'bridge-port');
      expect(down.status, down.stderr).toBe(0);
      expect(down.stdout).toMatch(/^removed 3 namespaces of bridge-port\n/); // then whatever dead owners left, if anything
      expect(namespaces().filter((n) => n.startsWith(state.prefix!))).toEqual([]);
      expect(existsSync(statePath('bridge-port'))).toBe(false);
      expect(existsSync(`${STATE_DIR}/${state.prefix}.json`)).toBe(false);
      const twice = pmtuWatch('lab', 'down', 'bridge-port');
      expect(twice.status).toBe(1);
      expect(twice.stderr).toBe('pmtu-watch: scenario bridge-port is not up (pmtu-watch lab list marks those that are)\n');
    });

    it('Ctrl-C while up is building leaves nothing behind: no namespaces, no state, no marker', async () => {
      // healthy builds eight namespaces one after the other: interrupt once the first exists.
      const r = await interrupt(['lab', 'up', 'healthy'], (pid) => ofPid(pid).length > 0);
      expect(r.sent).toBe(true);
      expect(r.signal ?? r.code, r.out).toBe(r.signal ? 'SIGINT' : 130);
      expect(ofPid(r.pid)).toEqual([]);
      expect(markersOf(r.pid)).toEqual([]);
      expect(existsSync(statePath('healthy'))).toBe(false);
    });

    it('what dead owners leave is shown as stale, cleaned by the next up or by any down', () => {
      const dead = { ...selfIdentity(), pid: deadPid(), startTime: '1' };
      const base: LabState = { version: 1, scenario: 'firewall', number: 4, status: 'building', ns: {}, addrs: {}, tryThis: [], created: new Date().toISOString(), owner: dead };
      // A `lab up` that died while building...
      writeFileSync(statePath('firewall'), formatState(base));
      expect(pmtuWatch('lab', 'list').stdout).toMatch(/^ 4 {2}firewall .*\[stale: lab down removes it\]$/m);
      const other = pmtuWatch('lab', 'down', 'healthy'); // not up: says so, but cleans the dead one all the same
      expect(other.status).toBe(1);
      expect(other.stdout).toContain(`removed firewall, left half-built by pid ${dead.pid} (0 namespaces)\n`);
      expect(existsSync(statePath('firewall'))).toBe(false);

      // ...and one that was up, whose namespaces someone deleted by hand: up replaces it.
      writeFileSync(statePath('firewall'), formatState({ ...base, status: 'up', prefix: 'pmtu-lab-1-abcdef', ns: { c: 'pmtu-lab-1-abcdef-c' } }));
      const up = pmtuWatch('lab', 'up', 'firewall');
      expect(up.status, up.stderr).toBe(0);
      expect(up.stderr).toBe('pmtu-watch lab: removing a stale firewall (its namespaces are gone)\n');
      expect(readState('firewall')).toMatchObject({ status: 'up', owner: { pid: up.pid } });
      expect(pmtuWatch('lab', 'down', 'firewall').stdout).toMatch(/^removed 4 namespaces of firewall\n/);
    });

    it('an unknown scenario is one line and exit 1', () => {
      for (const cmd of ['up', 'down']) {
        const r = pmtuWatch('lab', cmd, 'nope');
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/^pmtu-watch: no scenario named "nope" \(pmtu-watch lab list shows them: healthy, router-bottleneck, .*, mss-clamp, bridge-restart, decap-rp-filter\)\n$/);
      }
    });
  },
  { requires: [needLabTools] },
);

kernelDescribe(
  'pmtu-watch lab demo',
  () => {
    beforeAll(async () => {
      await reapStale();
    });

    it('drives traffic, prints what it saw and the verdict with its fix, says it is as expected, and tears everything down', () => {
      const r = pmtuWatch('lab', 'demo', 'bridge-port');
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain('  ping -M do -s 8000 g1 -> 198.18.10.2: 0/2 replies, and no error at all (black hole)\n');
      expect(r.stdout).toMatch(/LOCAL-BOTTLENECK layer2 icmp 198\.18\.10\.1 -> 198\.18\.10\.2 at hv\/p-g2 mtu 1500/);
      expect(r.stdout).toContain('fix: ip netns exec');
      expect(r.stdout).toMatch(/^as expected: local-bottleneck \(layer2\) at hv\/p-g2, mtu 1500 \(\d+ flows seen, \d+ with a verdict\)$/m);
      expect(r.stderr).toMatch(/^pmtu-watch lab: building 6 bridge-port/);
      // Its own namespaces and marker (other runs may be making theirs meanwhile).
      expect(ofPid(r.pid)).toEqual([]);
      expect(markersOf(r.pid)).toEqual([]);
    });

    it('--json: verdict lines on stdout only', () => {
      const r = pmtuWatch('lab', 'demo', '--json', 'bridge-port');
      expect(r.status, r.stderr).toBe(0);
      const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; verdict: string });
      expect(lines.length).toBeGreaterThan(0);
      expect(lines.every((l) => l.type === 'verdict')).toBe(true);
      expect(lines.map((l) => l.verdict)).toContain('local-bottleneck');
      expect(r.stderr).toContain('  ping -M do -s 8000 g1');
      expect(r.stderr).toMatch(/^as expected: /m);
    });

    it('Ctrl-C in the middle of the traffic: exit 130, nothing left (namespaces, marker, servers, key material)', async () => {
      const tlsDirs = () => readdirSync('/tmp').filter((f) => f.startsWith('pmtu-tls-'));
      const tlsBefore = tlsDirs();
      // rp-filter's TLS step runs openssl s_server in s for up to 13 s: interrupt once it is there.
      const r = await interrupt(['lab', 'demo', 'rp-filter'], (pid) => {
        const s = ofPid(pid).find((n) => n.endsWith('-s'));
        return s !== undefined && /openssl/.test(spawnSync('ip', ['netns', 'pids', s], { encoding: 'utf8' }).stdout.split(/\s+/).filter(Boolean).map((p) => {
          try {
            return spawnSync('cat', [`/proc/${p}/comm`], { encoding: 'utf8' }).stdout;
          } catch {
            return '';
          }
        }).join(' '));
      });
      expect(r.sent, r.out).toBe(true);
      expect(r.code, r.out).toBe(130);
      expect(r.out).toContain('pmtu-watch lab: interrupted');
      expect(ofPid(r.pid)).toEqual([]);
      expect(markersOf(r.pid)).toEqual([]);
      expect(tlsDirs()).toEqual(tlsBefore);
      expect(spawnSync('pgrep', ['-f', 'openssl s_server -quiet -www -accept 4433']).status).toBe(1);
    });
  },
  { requires: [needBtf, needLabTools, needCommands('openssl', 'curl'), needAddon] },
);
