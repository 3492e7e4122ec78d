// `pmtu-watch record`: a watching session (the same observer, route probe
// and correlator as `live`) with a capture file as its sink: the header, a
// snapshot of the namespaces at the start, every event with its packet
// snapshot, every verdict change, stats every few seconds, a snapshot at the
// end, and the End record. SIGINT/SIGTERM or --duration end it cleanly (hooks
// detached, file closed); a kill leaves a file that reads back to its last
// whole record.

import { hostname, release, version } from 'node:os';

import { SCHEMA } from '../contract/proto.js';
import { takeSnapshot, type Space } from '../capture/snapshot.js';
import type { Header, Moment, Snapshot } from '../capture/types.js';
import { CaptureWriter } from '../capture/writer.js';
import { oneLine } from '../errors.js';
import type { NativeAddon } from '../observer/addon.js';
import type { Observer, ObserverOptions } from '../observer/index.js';
import { Session } from '../session.js';
import { CaptureFileSink, toolVersion } from '../sinks/capture-file.js';
import { Summary } from '../sinks/summary.js';
import { KernelSource } from '../sources/kernel.js';
import { stopAfter, type Io } from './io.js';
import { openSelected, type WatchFlags } from './live.js';

export interface RecordOptions extends WatchFlags {
  output: string;
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
}

/** The namespaces of the interfaces being watched, ours first. */
function spacesAtStart(observer: Observer): Space[] {
  const spaces: Space[] = [];
  const add = (name: string, path: string | null) => {
    if (!spaces.some((s) => s.name === name)) spaces.push({ name, path });
  };
  let own = 'host';
  try {
    own = observer.namers.netns.name(observer.addon.netnsInode(null));
  } catch {
    // keep "host"
  }
  if (!observer.targets.length || observer.targets.some((t) => t.path === null)) add(own, null);
  for (const t of observer.targets) if (t.path !== null && t.netns) add(t.netns, t.path);
  return spaces;
}

export async function runRecord(opts: RecordOptions, io: Io, deps: RecordDeps): Promise<number> {
  const observer = openSelected(deps.open, opts, io);
  if (!observer) return 1;
  const snapshot: SnapshotFn = deps.snapshot ?? ((moment, spaces, lookups, addon) => takeSnapshot(moment, spaces, lookups, { addon }));
  const spaces = spacesAtStart(observer);
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

  const file = new CaptureFileSink(writer, deps.flushEveryMs);
  let session: Session | undefined;
  const summary = new Summary({ err: io.err, behind: () => session?.behind() ?? 0, everyMs: deps.statsEveryMs });
  session = new Session(new KernelSource(observer), [summary, file]); // notes the observer's warnings
  io.err(`pmtu-watch: recording ${observer.targets.length} interface(s) to ${opts.output}${opts.duration ? ` for ${opts.duration} s` : ''}; Ctrl-C stops`);

  const stop = stopAfter(opts.duration, deps.stopRequested);
  void file.failed.then((e) => stop.end(e.message));
  const running = session.run({ stop: stop.promise, statsEveryMs: deps.statsEveryMs });
  try {
    writer.snapshot(await snapshot('start', spaces, new Map(), observer.addon));
  } catch (e) {
    session.warning(`start snapshot: ${(e as Error).message}`);
  }
  const final = await running; // its stats written before close: they read the kernel's counters
  stop.cancel();
  session.close();

  const endSpaces = [...spaces];
  for (const name of file.seen) {
    const path = observer.namers.netns.pathOf(name);
    if (path && !endSpaces.some((s) => s.name === name)) endSpaces.push({ name, path });
  }
  try {
    writer.snapshot(await snapshot('end', endSpaces, file.lookups(), observer.addon));
  } catch (e) {
    writer.note(`end snapshot: ${(e as Error).message}`);
  }
  writer.end(stop.reason() ?? 'signal');

  const perEvent = writer.events ? ` (${Math.round(writer.written / writer.events)} bytes per event)` : '';
  io.err(summary.line(session, final, { label: opts.output, tail: `wrote ${writer.events} events, ${writer.verdicts} verdicts, ${writer.written} bytes${perEvent}` }));
  if (writer.error) {
    io.err(oneLine(writer.error));
    return 1;
  }
  return 0;
}
