// A capture file as a session's sink (`pmtu-watch record`): every event with
// its packet, every verdict change, the stats, warnings as notes; flushed
// every flushEveryMs. A write that fails (a full disk) ends the run through
// `failed`. It also notes what the end snapshot should look at: named
// namespaces the events came from, the destinations PTBs were about.

import { readFileSync } from 'node:fs';

import type { CaptureWriter } from '../capture/writer.js';
import type { StreamEvent } from '../contract/event.js';
import type { StatsJson } from '../contract/stats.js';
import type { VerdictJson } from '../contract/verdict.js';
import { oneLine, type PmtuError } from '../errors.js';
import type { Sink } from './sink.js';

/** At most this many destinations remembered per namespace for the end snapshot's route lookups. */
const MAX_LOOKUPS = 32;
/** At most this many namespaces remembered for the end snapshot. */
const MAX_SEEN = 256;

/** "pmtu-watch VERSION", for a capture's header. */
export function toolVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return `pmtu-watch ${pkg.version ?? '?'}`;
  } catch {
    return 'pmtu-watch';
  }
}

export class CaptureFileSink implements Sink {
  /** Every event is recorded with its packet. */
  readonly packets = true;
  /** Namespaces events came from. */
  readonly seen = new Set<string>();
  private readonly destinations = new Map<string, Set<string>>();
  private readonly flusher: NodeJS.Timeout;
  /** Resolves with the writer's error once a write failed. */
  readonly failed: Promise<PmtuError>;

  constructor(
    readonly writer: CaptureWriter,
    flushEveryMs = 100,
  ) {
    let fail!: (e: PmtuError) => void;
    this.failed = new Promise((resolve) => (fail = resolve));
    this.flusher = setInterval(() => {
      writer.flush();
      if (writer.error) {
        clearInterval(this.flusher);
        fail(writer.error);
      }
    }, flushEveryMs);
  }

  event(ev: StreamEvent, snap?: Buffer): void {
    this.writer.event(ev, snap);
    if (this.seen.size < MAX_SEEN) this.seen.add(ev.netns);
    if (ev.kind === 'route') this.remember(ev.netns, ev.dst);
    else if (ev.kind === 'ptb' && ev.dir === 'ingress' && ev.inner) this.remember(ev.netns, ev.inner.dst);
  }

  verdict(v: VerdictJson): void {
    this.writer.verdict(v);
  }

  stats(s: StatsJson): void {
    this.writer.stats(s);
  }

  warning(text: string): void {
    this.writer.note(text);
  }

  error(err: PmtuError): void {
    this.writer.note(oneLine(err).replace(/^pmtu-watch: /, ''));
  }

  /** The flushing stops; what comes later (the end snapshot, the End record) is written by writer.end(). */
  end(): void {
    clearInterval(this.flusher);
  }

  /** Destinations to look up per namespace, for the end snapshot. */
  lookups(): Map<string, string[]> {
    return new Map([...this.destinations].map(([k, v]) => [k, [...v]]));
  }

  private remember(netns: string, dst: string): void {
    let set = this.destinations.get(netns);
    if (!set) this.destinations.set(netns, (set = new Set()));
    if (set.size < MAX_LOOKUPS) set.add(dst);
  }
}
