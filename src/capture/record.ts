// `pmtu-watch record`: a watching session (the same observer, route probe
// and correlator as `live`) written to a capture file: the header, a
// snapshot of the namespaces at the start, every event with its packet
// snapshot, every verdict change, stats every few seconds, a snapshot at the
// end, and the End record. SIGINT/SIGTERM or --duration end it cleanly (hooks
// detached, file closed); a kill leaves a file that reads back to its last
// whole record.

import { readFileSync } from 'node:fs';
import { hostname, release, version } from 'node:os';

import { selection } from '../cli/live.js';
import type { CorrelatorEvent } from '../contract/event.js';
import { oneLine, PmtuError } from '../errors.js';
import type { NativeAddon } from '../observer/addon.js';
import type { Observer, ObserverOptions } from '../observer/index.js';
import { fsNameSources } from '../observer/names.js';
import { Session } from '../session.js';
import type { Io } from '../cli/io.js';
import { SCHEMA } from './schema.js';
import { namedNetnsPath } from '../observer/names.js';
import { takeSnapshot, type Space } from './snapshot.js';
import type { Header, Moment, Snapshot } from './types.js';
import { CaptureWriter } from './writer.js';

export interface RecordOptions {
  output: string;
  netns: string[];
  allNetns: boolean;
  iface: string[];
  duration?: number;
  sizeMin?: number;
}

export type SnapshotFn = (moment: Moment, spaces: Space[], lookups: ReadonlyMap<string, readonly string[]>, addon: NativeAddon) => Promise<Snapshot>;

export interface RecordDeps {
  open: (opts: ObserverOptions) => Observer;
  /** Resolves when the user asks to stop (SIGINT/SIGTERM). */
  stopRequested: Promise<void>;
  statsEveryMs: number;
  /** How often buffered records are written (ms); default 100. */
  flushEveryMs?: number;
  /** Default: takeSnapshot with `ip` and the addon. */
  snapshot?: SnapshotFn;
  /** Named namespaces (`ip netns`), for --all-netns. */
  listNamed?: () => string[];
}

/** At most this many destinations remembered per namespace for the end snapshot's route lookups. */
const MAX_LOOKUPS = 32;

export function toolVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return `pmtu-watch ${pkg.version ?? '?'}`;
  } catch {
    return 'pmtu-watch';
  }
}

function spacesAtStart(opts: RecordOptions, observer: Observer, listNamed: () => string[]): Space[] {
  const spaces: Space[] = [];
  const add = (name: string, path: string | null) => {
    if (!spaces.some((s) => s.name === name)) spaces.push({ name, path });
  };
  if (opts.netns.length) {
    for (const name of opts.netns) {
      const path = namedNetnsPath(name);
      if (path) add(name, path);
    }
    return spaces;
  }
  let own = 'host';
  try {
    own = observer.namers.netns.name(observer.addon.netnsInode(null));
  } catch {
    // keep "host"
  }
  add(own, null);
  if (opts.allNetns) {
    for (const name of listNamed()) {
      const path = namedNetnsPath(name);
      if (path) add(name, path);
    }
  }
  return spaces;
}

export async function runRecord(opts: RecordOptions, io: Io, deps: RecordDeps): Promise<number> {
  let observer: Observer;
  try {
    observer = deps.open(selection(opts));
  } catch (e) {
    io.err(oneLine(e));
    return 1;
  }
  const listNamed = deps.listNamed ?? (() => [...fsNameSources.listNamed().keys()].sort());
  const snapshot: SnapshotFn = deps.snapshot ?? ((moment, spaces, lookups, addon) => takeSnapshot(moment, spaces, lookups, { addon }));
  const spaces = spacesAtStart(opts, observer, listNamed);
  const header: Header = {
    schema: SCHEMA,
    tool: toolVersion(),
    host: hostname(),
    kernel: `${release()} ${version()}`,
    startTime: Date.now(),
    namespaces: spaces.map((s) => s.name),
    interfaces: observer.targets.map((t) => ({ netns: t.netns ?? observer.namers.netns.name(t.netnsInode), name: t.ifname, ifindex: t.ifindex, mtu: t.mtu })),
    selection: { netns: opts.netns, allNetns: opts.allNetns, ifaces: opts.iface, sizeMin: opts.sizeMin ?? 0, durationS: opts.duration ?? 0 },
  };
  let writer: CaptureWriter;
  try {
    writer = CaptureWriter.create(opts.output, header);
  } catch (e) {
    observer.close();
    io.err(oneLine(e));
    return 1;
  }

  // What the end snapshot looks at besides the start's namespaces: named
  // namespaces events came from, and the destinations PTBs were about.
  const seen = new Set<string>();
  const lookups = new Map<string, Set<string>>();
  const remember = (netns: string, dst: string) => {
    let set = lookups.get(netns);
    if (!set) lookups.set(netns, (set = new Set()));
    if (set.size < MAX_LOOKUPS) set.add(dst);
  };
  const notice = (ev: CorrelatorEvent) => {
    if (seen.size < 256) seen.add(ev.netns);
    if (ev.kind === 'route') remember(ev.netns, ev.dst);
    else if (ev.kind === 'ptb' && ev.dir === 'ingress' && ev.inner) remember(ev.netns, ev.inner.dst);
  };

  const session = new Session(observer, {
    event: (ev, snap) => {
      writer.event(ev, snap);
      notice(ev);
    },
    verdict: (v) => writer.verdict(v),
  });
  const note = (text: string) => {
    writer.note(text);
    io.err(`pmtu-watch: warning: ${text}`);
  };
  for (const w of observer.warnings) note(w);
  observer.on('warning', note);
  observer.on('error', (err) => {
    writer.note(oneLine(err).replace(/^pmtu-watch: /, ''));
    io.err(oneLine(err));
  });
  io.err(`pmtu-watch: recording ${observer.targets.length} interface(s) to ${opts.output}${opts.duration ? ` for ${opts.duration} s` : ''}; Ctrl-C stops`);
  writer.stats(session.stats());

  let reason = 'signal';
  let failed: PmtuError | undefined;
  const timers: NodeJS.Timeout[] = [];
  const stop = new Promise<void>((resolve) => {
    if (opts.duration) {
      timers.push(
        setTimeout(() => {
          reason = 'duration';
          resolve();
        }, opts.duration * 1000),
      );
    }
    void deps.stopRequested.then(resolve);
    timers.push(
      setInterval(() => {
        writer.flush();
        if (writer.error) {
          failed = writer.error;
          reason = writer.error.message;
          resolve();
        }
      }, deps.flushEveryMs ?? 100),
    );
  });
  timers.push(setInterval(() => writer.stats(session.stats()), deps.statsEveryMs));

  try {
    const start = await snapshot('start', spaces, new Map(), observer.addon);
    writer.snapshot(start);
  } catch (e) {
    note(`start snapshot: ${(e as Error).message}`);
  }

  await stop;
  for (const t of timers) clearTimeout(t);
  writer.stats(session.stats()); // before close: it reads the kernel's counters
  const losses = observer.losses();
  const unmatched = session.correlator.stats().unmatched;
  session.close();

  const endSpaces = [...spaces];
  for (const name of seen) {
    const path = namedNetnsPath(name);
    if (path && !endSpaces.some((s) => s.name === name)) endSpaces.push({ name, path });
  }
  try {
    const end = await snapshot('end', endSpaces, new Map([...lookups].map(([k, v]) => [k, [...v]])), observer.addon);
    writer.snapshot(end);
  } catch (e) {
    writer.note(`end snapshot: ${(e as Error).message}`);
  }
  writer.end(reason);

  const lost = losses.ringbufFull + losses.queueFull;
  const perEvent = writer.events ? ` (${Math.round(writer.written / writer.events)} bytes per event)` : '';
  io.err(`pmtu-watch: ${opts.output}: ${writer.events} events, ${writer.verdicts} verdicts, ${writer.written} bytes${perEvent}, ${lost} lost, ${unmatched} unmatched ICMP errors`);
  failed ??= writer.error;
  if (failed) {
    io.err(oneLine(failed));
    return 1;
  }
  return 0;
}
