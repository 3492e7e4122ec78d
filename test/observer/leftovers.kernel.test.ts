// A pmtu-watch killed with -9 cannot detach: its tc filters stay, running a
// program nobody holds. The next start finds them (our handle, our program's
// name, no live process holding the program), removes them and says so —
// and never touches another tool's filters, nor those of an observer that is
// still running.

import { spawn } from 'node:child_process';
import { once } from 'node:events';

import { expect, it } from 'vitest';

import type { NetLab } from '../../src/lab/netlab.js';
import { waitFor } from '../../src/lab/traffic.js';
import { openObserver } from '../../src/observer/index.js';
import { kernelDescribe, needAddon, needBtf, needCommands } from '../helpers/kernel.js';
import { useLabs } from '../helpers/labs.js';
import { BIN, observerAttached } from '../helpers/live.js';

kernelDescribe(
  'tc filters a killed pmtu-watch left behind',
  () => {
    const labs = useLabs();
    let lab: NetLab | undefined;

    /** A namespace whose eth0 carries another tool's u32 filters, one at our first priority. */
    async function withOtherFilters(tag: string) {
      lab = await labs.create(tag);
      const a = await lab.addNs('a');
      const b = await lab.addNs('b');
      await lab.veth(a, 'eth0', b, 'eth0', { mtuA: 1500, mtuB: 1500 });
      await lab.linkSet(a, 'eth0', { up: true });
      await tc(a, 'qdisc', 'add', 'dev', 'eth0', 'clsact');
      await tc(a, 'filter', 'add', 'dev', 'eth0', 'ingress', 'prio', '1', 'u32', 'match', 'u32', '0', '0', 'classid', '1:1');
      await tc(a, 'filter', 'add', 'dev', 'eth0', 'egress', 'prio', '10', 'u32', 'match', 'u32', '0', '0', 'classid', '1:2');
      return { ns: a, before: { ingress: await filters(a, 'ingress'), egress: await filters(a, 'egress') } };
    }
    const tc = (ns: string, ...args: string[]) => lab!.exec(ns, ['tc', ...args], { check: true });
    const filters = async (ns: string, dir: 'ingress' | 'egress') => (await tc(ns, 'filter', 'show', 'dev', 'eth0', dir)).stdout;

    /** `pmtu-watch live` in plain mode for a moment: what it said on stderr, and how it ended. */
    async function liveBriefly(ns: string): Promise<{ code: number | null; stderr: string }> {
      const child = spawn(process.execPath, [BIN, 'live', '--netns', ns, '--duration', '1'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const [code] = (await once(child, 'exit')) as [number | null];
      return { code, stderr };
    }

    it('after kill -9 of live: the next start removes exactly its filters and says so; the other tool\'s filters survive', async () => {
      const { ns, before } = await withOtherFilters('leftkill');
      const killed = spawn(process.execPath, [BIN, 'live', '--json', '--netns', ns, '--duration', '60'], { stdio: 'ignore' });
      const exited = once(killed, 'exit');
      try {
        await waitFor(() => observerAttached(lab!, ns, 'eth0'), 15_000);
      } finally {
        killed.kill('SIGKILL');
      }
      await exited;
      // What kill -9 leaves: ours beside theirs, running a program nobody holds.
      expect(await filters(ns, 'ingress')).toContain('pmtu_tc_ingress');
      expect(await filters(ns, 'egress')).toContain('pmtu_tc_egress');
      expect(await filters(ns, 'ingress')).toContain('pref 1 u32');

      const next = await liveBriefly(ns);
      expect(next.code).toBe(0);
      expect(next.stderr).toContain(`pmtu-watch: warning: removed 2 leftover tc filters of a killed pmtu-watch (pid ${killed.pid}) from ${ns}/eth0\n`);
      // It exited cleanly: what is left is what the other tool put there, as it was.
      expect(await filters(ns, 'ingress')).toBe(before.ingress);
      expect(await filters(ns, 'egress')).toBe(before.egress);

      const third = await liveBriefly(ns);
      expect(third.code).toBe(0);
      expect(third.stderr).not.toContain('leftover');
    });

    it("never removes a running observer's filters, in another process or in this one", async () => {
      const { ns, before } = await withOtherFilters('leftlive');
      const running = openObserver({ netns: [ns], noSignalHandlers: true });
      try {
        expect(await filters(ns, 'ingress')).toContain('pmtu_tc_ingress');
        const other = await liveBriefly(ns);
        expect(other.code).toBe(0);
        expect(other.stderr).not.toContain('leftover');
        const alongside = openObserver({ netns: [ns], noSignalHandlers: true });
        expect(alongside.warnings.filter((w) => w.includes('leftover'))).toEqual([]);
        alongside.close();
        // The running one's filters are all still there and still report.
        expect((await filters(ns, 'ingress')).match(/handle 0x504d/g)).toHaveLength(1);
        expect(running.attachments().map((a) => a.ifname)).toEqual(['eth0']);
      } finally {
        running.close();
      }
      expect(await filters(ns, 'ingress')).toBe(before.ingress);
      expect(await filters(ns, 'egress')).toBe(before.egress);
    });
  },
  { requires: [needBtf, needCommands('ip', 'tc'), needAddon] },
);
