// Containers start and stop while `live --all-netns` watches: namespaces
// and interfaces appear (attached within a rescan or two), vanish (dropped),
// come back under the same names (attached again), and some live for less
// than a rescan. None of it is an error or a warning.

import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';

import { expect, it } from 'vitest';

import type { NetLab } from '../../src/lab/netlab.js';
import { waitFor } from '../../src/lab/traffic.js';
import { openObserver, type Observer } from '../../src/observer/index.js';
import { kernelDescribe, needAddon, needBtf, needCommands } from '../helpers/kernel.js';
import { useLabs } from '../helpers/labs.js';
import { BIN, observerAttached, type JsonLine } from '../helpers/live.js';

const run = promisify(execFile);
const ROUNDS = 12;

/** What another run may say that is not about this test: leftovers of a killed pmtu-watch. */
const notOurs = (line: string) => /leftover tc filter/.test(line);

kernelDescribe(
  'namespaces and interfaces that come and go',
  () => {
    const labs = useLabs();

    it(`${ROUNDS} rounds of containers starting and stopping: new ones attached, vanished ones dropped, no error`, async () => {
      const lab: NetLab = await labs.create('churn');
      const home = await lab.addNs('home'); // stays; interfaces come and go inside it
      const child = spawn(process.execPath, [BIN, 'live', '--json', '--all-netns', '--duration', '120'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const lines: JsonLine[] = [];
      createInterface({ input: child.stdout }).on('line', (l) => lines.push(JSON.parse(l) as JsonLine));
      const exited = once(child, 'exit');
      // The same code in this process, where the watched set can be read.
      const obs: Observer = openObserver({ allNetns: true, noSignalHandlers: true, rescanMs: 200 });
      const problems: string[] = [];
      obs.on('error', (e) => problems.push(`error: ${e.message}`));
      obs.on('warning', (w) => (notOurs(w) ? undefined : problems.push(`warning: ${w}`)));
      const watched = (ns: string, ifname: string) => obs.targets.some((t) => t.netns === ns && t.ifname === ifname);
      const dropped = (ns: string) => !obs.targets.some((t) => t.netns === ns);
      let attachedSeen = 0;
      try {
        await waitFor(() => lines.some((l) => l.type === 'stats'), 15_000);
        let previous: { a: string; b: string; veth: string } | undefined;
        for (let round = 0; round < ROUNDS; round++) {
          const a = await lab.addNs(`r${round}a`);
          const b = await lab.addNs(`r${round}b`);
          await lab.veth(a, 'eth0', b, 'eth0');
          const veth = `v${round}`;
          await lab.ip(home, ['link', 'add', veth, 'type', 'veth', 'peer', 'name', `p${round}`]);
          await lab.linkSet(home, veth, { up: true });
          // One that lives for less than a rescan.
          const brief = await lab.addNs(`r${round}x`);
          await lab.ip(brief, ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1']);
          await run('ip', ['netns', 'del', brief]);

          await waitFor(() => watched(a, 'eth0') && watched(b, 'eth0') && watched(home, veth), 10_000);
          await waitFor(() => observerAttached(lab, a, 'eth0'), 10_000); // the child too
          attachedSeen++;
          if (previous) {
            await run('ip', ['netns', 'del', previous.a]);
            await run('ip', ['netns', 'del', previous.b]);
            await lab.ip(home, ['link', 'del', previous.veth]);
            await waitFor(() => dropped(previous!.a) && dropped(previous!.b) && !watched(home, previous!.veth), 10_000);
          }
          previous = { a, b, veth };
        }
        // A namespace re-created under a vanished one's name is a new one: watched again.
        await run('ip', ['netns', 'del', previous!.a]);
        await waitFor(() => dropped(previous!.a), 10_000);
        await run('ip', ['netns', 'add', previous!.a]);
        await run('ip', ['-n', previous!.a, 'link', 'add', 'eth9', 'type', 'veth', 'peer', 'name', 'eth8']);
        await waitFor(() => watched(previous!.a, 'eth9'), 10_000);
        await waitFor(() => observerAttached(lab, previous!.a, 'eth9'), 10_000);
      } finally {
        obs.close();
        child.kill('SIGINT');
      }
      const [code] = (await exited) as [number | null];
      expect(problems).toEqual([]);
      expect(stderr.split('\n').filter((l) => l !== '' && !notOurs(l))).toEqual([]);
      expect(code).toBe(0);
      expect(attachedSeen).toBe(ROUNDS);
      const final = lines.filter((l) => l.type === 'stats').at(-1) as JsonLine & { losses: Record<string, number> };
      expect(final.losses.unknownRecords).toBe(0);
    }, 120_000);
  },
  { requires: [needBtf, needCommands('ip', 'tc'), needAddon] },
);
