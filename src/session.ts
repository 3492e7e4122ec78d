// One session: a source's events (the kernel's, or a capture's) get their
// names, go through the correlator in one order, and prompt route lookups
// (watching the kernel only: a capture has its lookups recorded); every sink
// sees the same events, verdicts and stats. live, serve, record, replay and
// report are a source, this, and their sinks:
//
//   const session = new Session(new KernelSource(observer), [new JsonLines(out), summary]);
//   const final = await session.run({ stop, statsEveryMs: 5000 });
//   session.close();

import { Correlator } from './correlate/correlator.js';
import type { CaptureRecord } from './capture/types.js';
import type { StreamEvent } from './contract/event.js';
import type { StatsJson } from './contract/stats.js';
import { oneLine, type PmtuError } from './errors.js';
import { protoName } from './contract/event.js';
import { RecordEvent } from './observer/decode.js';
import { eventJson, epochMsOfUs, newNetnsMemo, type Namers } from './observer/json.js';
import type { PmtuEvent } from './observer/index.js';
import { RouteProbe } from './observer/route-probe.js';
import type { Sink } from './sinks/sink.js';
import type { Source } from './sources/source.js';

/** How often sinks hear the source's time (settled text waits 250 ms; the screen redraws every 500). */
const TICK_MS = 125;

export interface RunOptions {
  /** Resolves when the run should end: a signal, --duration, a sink that failed. */
  stop: Promise<void>;
  /** How often the session's stats go to the sinks while watching the kernel (a capture has its own). */
  statsEveryMs: number;
}

export class Session {
  readonly correlator: Correlator;
  readonly started = Date.now();
  readonly source: Source;
  private readonly sinks: Sink[];
  private readonly counts: Record<string, number> = {};
  private total = 0;
  private readonly probe: RouteProbe | undefined;
  /** Whether a sink reads the events' packets: only then is a kernel event's cut out of its record. */
  private packets: boolean;
  /** Whether a sink takes events: if none does, an event that can make no verdict needs no line. */
  private lines: boolean;

  /** Sinks may be one (handlers for events and verdicts) or several. */
  constructor(source: Source, sinks: Sink | readonly Sink[] = []) {
    this.source = source;
    this.correlator = new Correlator(source.capturePoints ? { capture: true } : {});
    this.sinks = Array.isArray(sinks) ? [...(sinks as readonly Sink[])] : [sinks as Sink];
    this.packets = this.sinks.some((s) => s.packets === true);
    this.lines = this.sinks.some((s) => typeof s.event === 'function');
    const routes = this.source.routes;
    if (routes) this.probe = new RouteProbe(routes, (ev) => this.take(ev));
    this.source.attach(this);
  }

  /** A sink that needs the session itself to be made (a digest of its correlator). */
  add(sink: Sink): void {
    this.sinks.push(sink);
    if (sink.packets === true) this.packets = true;
    if (typeof sink.event === 'function') this.lines = true;
  }

  /** One event, named already (a capture's, a route lookup). */
  take(ev: StreamEvent, snap?: Buffer): void {
    this.counts[ev.kind] = (this.counts[ev.kind] ?? 0) + 1;
    this.total++;
    if (ev.kind === 'link') {
      // For the sinks only: the correlator judges flows.
      for (const s of this.sinks) (s.link ? s.link(ev) : s.event?.(ev));
      return;
    }
    for (const s of this.sinks) s.event?.(ev, snap);
    for (const v of this.correlator.push(ev)) for (const s of this.sinks) s.verdict?.(v);
    // Only for flows seen themselves: a flood of spoofed PTBs must not turn
    // into a flood of route lookups.
    if (this.probe && ev.kind !== 'route' && this.correlator.confirmed(ev)) this.probe.observe(ev);
  }

  /** Decoded kernel events (the kernel's, or a foreign capture's): named here, then taken. */
  takeDecoded(events: readonly PmtuEvent[], namers: Namers): void {
    const packets = this.packets;
    const memo = newNetnsMemo(); // a batch's namespaces named once per run of them
    for (const ev of events) {
      if (!this.lines && ev instanceof RecordEvent && ev.flags.quoteMismatch && !this.mayProbe(ev)) {
        // A packet its destination cannot have sent (a spoofed PTB): no sink wants its line and the
        // correlator judges nothing of it; counted as take() counts it, without naming it.
        this.counts[ev.kind] = (this.counts[ev.kind] ?? 0) + 1;
        this.total++;
        this.correlator.pushQuoteMismatch(epochMsOfUs(ev.tsUs, namers.epochOffsetMs), ev.flags.icmpError);
        continue;
      }
      this.take(eventJson(ev, namers, memo), packets ? ev.snap : undefined);
    }
  }

  /** Whether take() would hand this event to the route probe: a PTB arriving at a host, about a flow seen itself. */
  private mayProbe(ev: RecordEvent): boolean {
    if (!this.probe || ev.kind !== 'ptb' || ev.dir !== 'ingress') return false;
    const q = ev.inner;
    return q !== null && this.correlator.tracks(q.src, q.sport, q.dst, q.dport, protoName(q.proto));
  }

  /** A stats line the source recorded (replay). */
  recordedStats(s: StatsJson): void {
    for (const sink of this.sinks) sink.stats?.(s);
  }

  /** A capture's other records, for the sinks that want them (a digest). */
  recorded(rec: Exclude<CaptureRecord, { type: 'event' | 'stats' }>): void {
    for (const s of this.sinks) s.recorded?.(rec);
  }

  warning(text: string): void {
    for (const s of this.sinks) s.warning?.(text);
  }

  /** A problem that does not stop the source; said where a sink says it, else on stderr. */
  error(err: PmtuError): void {
    let told = false;
    for (const s of this.sinks) {
      if (!s.error) continue;
      s.error(err);
      told = true;
    }
    if (!told) process.stderr.write(`pmtu-watch: ${err.message}\n`);
  }

  /** The source's time moved on. */
  tick(now: number): void {
    for (const s of this.sinks) s.tick?.(now);
  }

  get events(): number {
    return this.total;
  }

  /** What the sinks could not take and dropped, so far. */
  behind(): number {
    let n = 0;
    for (const s of this.sinks) n += s.behind?.() ?? 0;
    return n;
  }

  /** When a sink would rather the source waited (a reader behind), resolves once it is ready; else undefined. Only a source that can pause asks. */
  ready(): Promise<void> | undefined {
    let waits: Promise<void>[] | undefined;
    for (const s of this.sinks) {
      const w = s.ready?.();
      if (w) (waits ??= []).push(w);
    }
    return waits && Promise.all(waits).then(() => {});
  }

  stats(): StatsJson {
    const s: StatsJson = {
      type: 'stats',
      elapsedS: Math.round((Date.now() - this.started) / 100) / 10,
      interfaces: this.source.interfaces(),
      events: { ...this.counts },
      losses: { ...this.source.losses(), sinkBehind: this.behind() },
      flows: this.correlator.stats(),
    };
    const traffic = this.source.traffic?.();
    if (traffic) s.traffic = traffic;
    return s;
  }

  /**
   * Runs the source until it ends (a capture) or `stop` resolves: sinks hear
   * the time every TICK_MS and, watching the kernel, the stats at the start,
   * every period and at the end. Resolves to the last stats (taken before
   * close(): they read the kernel's counters). What the source throws (a
   * corrupt capture) is thrown after the sinks have ended.
   */
  async run(opts: RunOptions): Promise<StatsJson> {
    const live = this.source.live;
    const stats = () => {
      const s = this.stats();
      for (const sink of this.sinks) sink.stats?.(s);
    };
    if (live) stats(); // also tells a reader the hooks are in place
    this.tick(this.source.now());
    const timers = [setInterval(() => this.tick(this.source.now()), TICK_MS)];
    if (live) timers.push(setInterval(stats, opts.statsEveryMs));
    try {
      await this.source.run(opts.stop);
    } finally {
      for (const t of timers) clearInterval(t);
      for (const s of this.sinks) s.end?.();
    }
    const final = this.stats();
    if (live) for (const sink of this.sinks) sink.stats?.(final);
    return final;
  }

  /**
   * run() a file's source to its end and close(): what the source threw (a
   * damaged file) said in one line on `err`, the stats either way.
   */
  async runToEnd(opts: RunOptions, err: (line: string) => void): Promise<{ final: StatsJson; failed: boolean }> {
    try {
      return { final: await this.run(opts), failed: false };
    } catch (e) {
      err(oneLine(e));
      return { final: this.stats(), failed: true };
    } finally {
      this.close();
    }
  }

  close(): void {
    this.probe?.stop();
    this.source.close();
  }
}
