// Without the capabilities BPF and tc need, live, serve and record say so in
// one line naming each missing capability and what needs it, and exit 1
// without touching anything.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, expect, it } from 'vitest';

import { kernelDescribe, needAddon, needCommands } from '../helpers/kernel.js';
import { useLabs } from '../helpers/labs.js';
import { BIN } from '../helpers/live.js';

const dir = mkdtempSync(join(tmpdir(), 'pmtu-priv-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs pmtu-watch as root whose capability bounding set lacks `drop` (setpriv syntax): files stay readable, the rest does not. */
function without(drop: string, args: string[]) {
  return spawnSync('setpriv', [`--bounding-set=${drop}`, process.execPath, BIN, ...args], { encoding: 'utf8', timeout: 20_000 });
}

function oneErrorLine(r: ReturnType<typeof without>): string {
  expect(r.status).toBe(1);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  return lines[0]!;
}

kernelDescribe(
  'watching without privileges',
  () => {
    const labs = useLabs();

    it('no capabilities at all: one line naming CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN, exit 1', () => {
      const line = oneErrorLine(without('-all', ['live', '--duration', '1']));
      expect(line).toBe(
        'pmtu-watch: not permitted: this process lacks CAP_BPF (loading the eBPF programs), CAP_PERFMON (the tracepoints and their ring buffer), CAP_NET_ADMIN (attaching to tc) ' +
          '(run as root, or grant them: e.g. systemd AmbientCapabilities=CAP_BPF CAP_PERFMON CAP_NET_ADMIN CAP_SYS_ADMIN)',
      );
    });

    it('only CAP_NET_ADMIN missing: names it alone', () => {
      expect(oneErrorLine(without('-net_admin', ['live', '--duration', '1']))).toMatch(/^pmtu-watch: not permitted: this process lacks CAP_NET_ADMIN \(attaching to tc\) \(run as root/);
    });

    it('CAP_BPF without CAP_SYS_ADMIN is not enough to watch another namespace', async () => {
      const lab = await labs.create('priv');
      const ns = await lab.addNs('a');
      await lab.veth(ns, 'eth0', await lab.addNs('b'), 'eth0');
      expect(oneErrorLine(without('-sys_admin', ['live', '--netns', ns, '--duration', '1']))).toMatch(/lacks CAP_SYS_ADMIN \(entering other network namespaces\)/);
    });

    it('--all-netns without CAP_SYS_PTRACE watches on, and says once that other users’ containers go unwatched', () => {
      const r = without('-sys_ptrace', ['live', '--all-netns', '--duration', '1']);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr.split('\n').filter((l) => /CAP_SYS_PTRACE/.test(l))).toEqual([
        expect.stringMatching(/^pmtu-watch: .*without CAP_SYS_PTRACE the namespaces of processes of other users \(containers running as non-root\) cannot be found, so they are not watched/),
      ]);
    });

    it('serve and record say the same, and record leaves no file', () => {
      expect(oneErrorLine(without('-all', ['serve', '--listen', '127.0.0.1:0', '--duration', '1']))).toMatch(/^pmtu-watch: not permitted: this process lacks CAP_BPF/);
      const file = join(dir, 'never.pmtucap');
      expect(oneErrorLine(without('-all', ['record', '-o', file, '--duration', '1']))).toMatch(/^pmtu-watch: not permitted: this process lacks CAP_BPF/);
      expect(existsSync(file)).toBe(false);
    });
  },
  { requires: [needCommands('setpriv', 'ip'), needAddon] },
);
