// What deploy/systemd/pmtu-watch.service allows is enough for serve: run with
// only the unit's capabilities (CapabilityBoundingSet) under strace, it finds
// a lab black hole, serves /metrics and the feed, stops on SIGTERM as
// systemd stops it, and every system call it made (all threads) is one the
// unit's SystemCallFilter admits, as systemd-analyze expands it. (No systemd
// runs here as PID 1 to start the unit itself.)

import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, expect, it } from 'vitest';

import { connectFeed } from '../../src/feed/client.js';
import { scenario } from '../../src/lab/scenarios.js';
import { waitFor } from '../../src/lab/traffic.js';
import { kernelDescribe, needAddon, needBtf, needCommands, needLabTools } from '../helpers/kernel.js';
import { useLabs } from '../helpers/labs.js';
import { observerAttached } from '../helpers/live.js';
import { startServe, stop, type Serve } from './agents.js';
import { run, UNIT, unitDirectives } from './helpers.js';

/** The system calls a SystemCallFilter= allow-list admits, its @groups expanded by systemd-analyze. */
async function allowed(filter: string[]): Promise<Set<string>> {
  const out = new Set<string>();
  const seen = new Set<string>();
  const expand = async (item: string): Promise<void> => {
    if (!item.startsWith('@')) return void out.add(item);
    if (seen.has(item)) return;
    seen.add(item);
    const r = await run('systemd-analyze', ['syscall-filter', item]);
    const lines = r.stdout.split('\n').slice(1).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    for (const l of lines) await expand(l);
  };
  for (const f of filter) await expand(f);
  return out;
}

/** The system call names of `strace -c`'s table. */
function straced(summary: string): string[] {
  return summary
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((cols) => cols.length >= 5 && /^\d/.test(cols[0]!) && cols.at(-1) !== 'total')
    .map((cols) => cols.at(-1)!);
}

kernelDescribe(
  'deploy: the systemd unit\'s capabilities and system call filter hold serve',
  () => {
    const labs = useLabs();
    let serve: Serve | undefined;
    let dir: string | undefined;
    afterEach(async () => {
      if (serve) await stop(serve.child, 'SIGKILL');
      serve = undefined;
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('judges a black hole, serves /metrics and the feed, stops on SIGTERM, within the filter', async () => {
      const unit = unitDirectives(readFileSync(UNIT, 'utf8'));
      const filter = unit.get('SystemCallFilter')!.flatMap((v) => v.split(/\s+/));
      const permitted = await allowed(filter);
      expect(permitted.has('bpf') && permitted.has('setns')).toBe(true);

      dir = mkdtempSync(join(tmpdir(), 'pmtu-strace-'));
      const trace = join(dir, 'strace.txt');
      const lab = await labs.create('unitsys');
      const sc = scenario('rp-filter')!;
      const built = await sc.build(lab);
      const token = randomBytes(8).toString('hex');
      serve = await startServe(Object.values(built.ns), { token, wrap: ['strace', '-f', '-c', '-o', trace] });
      await waitFor(() => observerAttached(lab, built.ns[built.readyOn.role]!, built.readyOn.ifname), 20_000);
      const feed = connectFeed({ url: `ws://127.0.0.1:${serve.port}/feed`, token, filter: { verdictsOnly: true } });
      await new Promise<void>((resolve) => feed.on('snapshot', () => resolve()));
      await sc.drive(lab, built);
      const metrics = () => fetch(`http://127.0.0.1:${serve!.port}/metrics`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.text());
      await waitFor(async () => /^pmtu_flows_by_verdict\{verdict="ptb-dropped",cause="rp_filter"\} [1-9]/m.test(await metrics()), 10_000, 200);
      feed.close();
      // SIGTERM to serve itself, as systemd sends it; strace then exits with serve's status.
      const node = Number(readFileSync(`/proc/${serve.child.pid}/task/${serve.child.pid}/children`, 'utf8').trim().split(' ')[0]);
      expect(readFileSync(`/proc/${node}/comm`, 'utf8').trim()).toBe('node');
      const exited = once(serve.child, 'exit') as Promise<[number | null]>;
      process.kill(node, 'SIGTERM');
      const [code] = await Promise.race([exited, new Promise<[null]>((resolve) => setTimeout(() => resolve([null]), 15_000))]);
      expect(code, serve.stderr()).toBe(0);
      serve = undefined;

      const calls = straced(readFileSync(trace, 'utf8'));
      expect(calls).toEqual(expect.arrayContaining(['bpf', 'setns', 'epoll_wait']));
      const outside = calls.filter((c) => !permitted.has(c));
      console.log(`serve under the unit's filter: ${calls.length} distinct system calls, outside ${filter.join(' ')}: ${outside.join(', ') || 'none'}`);
      expect(outside).toEqual([]);
    }, 90_000);
  },
  { requires: [needBtf, needLabTools, needAddon, needCommands('strace', 'setpriv', 'systemd-analyze')] },
);
