// A busy host (issue 11): ~20k short TCP connections, ab through nginx over
// a veth pair, while `pmtu-watch live --json --all-netns` (the built bin, a
// child process) watches everything. It must lose no event, and a PMTU black
// hole built while the load runs (the lab's rp-filter scenario) must still
// get its verdict. Healthy traffic is what a busy host is made of: a watcher
// that pays per connection loses the one flow that matters.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { expect, it } from 'vitest';

import { blackHoleVerdict } from '../../src/bench/busy.js';
import { CLIENT_IF, LiveWatcher, SERVER_IF, buildBusyHost, eventsLost, loadUntil } from '../../src/bench/busy-lab.js';
import type { NetLab } from '../../src/lab/netlab.js';
import { kernelDescribe, needAddon, needBtf, needCommands, needLabTools } from '../helpers/kernel.js';
import { useLabs } from '../helpers/labs.js';

const CONNECTIONS = 20_000;

kernelDescribe(
  'a busy host under pmtu-watch live --json --all-netns',
  () => {
    const labs = useLabs();

    it(
      `${CONNECTIONS} connections through nginx: no event lost, and the rp_filter black hole built meanwhile gets ptb-dropped/rp_filter`,
      async () => {
        const lab: NetLab = await labs.create('busy');
        const dir = mkdtempSync(join(tmpdir(), 'pmtu-busytest-'));
        try {
          const host = await buildBusyHost(lab, dir);
          const ends = [
            { lab, ns: host.client, ifname: CLIENT_IF },
            { lab, ns: host.server, ifname: SERVER_IF },
          ];
          const w = await LiveWatcher.start(join(dir, 'live.jsonl'), { attached: ends, maxSeconds: 60 });
          let found: Awaited<ReturnType<typeof blackHoleVerdict>> | undefined;
          let why: string | undefined;
          let stopped: Awaited<ReturnType<LiveWatcher['stop']>>;
          let load: Awaited<ReturnType<typeof loadUntil>> | undefined;
          try {
            // The load runs (in chunks) until the black hole has been driven and the connections are made.
            let driven = false;
            const loading = loadUntil(lab, host, () => driven, { minRequests: CONNECTIONS, chunk: 5000, maxMs: 40_000 });
            try {
              await new Promise((r) => setTimeout(r, 300));
              found = await blackHoleVerdict(lab, w);
            } catch (e) {
              why = (e as Error).message;
            } finally {
              driven = true;
              load = await loading;
            }
          } finally {
            stopped = await w.stop();
          }
          const lost = eventsLost(stopped.stats);
          console.log(
            `busy: ${load!.complete} requests at ${Math.round(load!.rps)}/s; final stats ${JSON.stringify(stopped.stats?.losses)}; ` +
              (found ? `verdict ${found.latencyMs.toFixed(1)} ms after its evidence (${found.evidence})` : `no verdict: ${why}`),
          );
          expect(load!.complete).toBeGreaterThanOrEqual(CONNECTIONS);
          expect(load!.failed).toBe(0);
          expect(stopped.code, stopped.stderr).toBe(0);
          expect(stopped.stats, 'a final stats line').toBeDefined();
          expect(lost, `events lost: ${JSON.stringify(stopped.stats?.losses)}`).toBe(0);
          // Output lines the session dropped because the file was behind (versions that count them).
          expect(stopped.stats!.losses!.sinkBehind ?? 0).toBe(0);
          expect(found, why).toBeDefined();
          expect(found!.verdict).toMatchObject({ verdict: 'ptb-dropped', cause: 'rp_filter', mtu: 1500, where: { netns: found!.built.ns.s, iface: 'to-r2' } });
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
      120_000,
    );
  },
  { requires: [needBtf, needLabTools, needAddon, needCommands('nginx', 'ab', 'tc')] },
);
