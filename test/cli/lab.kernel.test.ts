// `pmtu-watch lab` as a user runs it: list, up in one process and down in
// another, and a demo that prints the verdict and leaves nothing behind.

import { execFileSync, spawnSync } from 'node:child_process';

import { afterAll, expect, it } from 'vitest';

import { NetLab } from '../../src/lab/netlab.js';
import { kernelDescribe, needAddon, needBtf, needLabTools } from '../helpers/kernel.js';
import { BIN } from '../helpers/live.js';

function pmtuWatch(...args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
}

const namespaces = () => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });

kernelDescribe(
  'pmtu-watch lab',
  () => {
    afterAll(async () => {
      await NetLab.removePersistent('bridge-port');
    });

    it('lists the ten scenarios', () => {
      const r = pmtuWatch('lab', 'list');
      expect(r.status).toBe(0);
      const heads = r.stdout.split('\n').filter((l) => /^\s?\d+ {2}/.test(l));
      expect(heads).toHaveLength(10);
      expect(heads[2]).toMatch(/^ 3 {2}rp-filter/);
    });

    it('up leaves a scenario running after it exits; a second up refuses; down removes it', () => {
      const up = pmtuWatch('lab', 'up', 'bridge-port');
      expect(up.status, up.stderr).toBe(0);
      const hv = /^ {2}hv +(\S+)$/m.exec(up.stdout)?.[1];
      expect(hv).toMatch(/^pmtu-lab-/);
      expect(namespaces()).toContain(hv);
      expect(up.stdout).toContain('ping -M do -s 8000');

      const again = pmtuWatch('lab', 'up', 'bridge-port');
      expect(again.status).toBe(1);
      expect(again.stderr.trim()).toBe('pmtu-watch: scenario bridge-port is up already (pmtu-watch lab down bridge-port removes it)');
      expect(pmtuWatch('lab', 'list').stdout).toMatch(/bridge-port .*\[up\]/);

      const down = pmtuWatch('lab', 'down', 'bridge-port');
      expect(down.status).toBe(0);
      expect(down.stdout).toBe('removed 3 namespaces of bridge-port\n');
      expect(namespaces()).not.toContain(hv!);
      expect(pmtuWatch('lab', 'down', 'bridge-port').status).toBe(1);
    });

    it('demo prints the verdict with its fix and tears everything down', () => {
      const before = namespaces();
      const r = pmtuWatch('lab', 'demo', 'bridge-port');
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/LOCAL-BOTTLENECK layer2 icmp 198\.18\.10\.1 -> 198\.18\.10\.2 at hv\/p-g2 mtu 1500/);
      expect(r.stdout).toContain('fix: ip netns exec');
      expect(namespaces()).toBe(before);
    });

    it('an unknown scenario is one line and exit 1', () => {
      const r = pmtuWatch('lab', 'demo', 'nope');
      expect(r.status).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^pmtu-watch: no scenario named "nope"/);
    });
  },
  { requires: [needBtf, needLabTools, needAddon] },
);
