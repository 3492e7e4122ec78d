// One watching session: the observer's events, as JSON lines, and the route
// lookups they prompt, go through the correlator in one order. `live` prints
// what comes out; a recorder would write it. Whatever consumes a session sees
// the same events and verdicts.

import { Correlator } from './correlate/correlator.js';
import type { CorrelatorEvent } from './contract/event.js';
import type { VerdictJson } from './contract/verdict.js';
import type { StatsJson } from './contract/stats.js';
import type { Observer } from './observer/index.js';
import { RouteProbe } from './observer/route-probe.js';

export interface SessionHandlers {
  /**
   * Every event: the kernel's and the route lookups'. `snap` is the packet
   * from its network header on, as the kernel kept it (kernel events only;
   * the JSON line leaves it out): what a capture records.
   */
  event?(ev: CorrelatorEvent, snap?: Buffer): void;
  /** A flow's verdict changed. */
  verdict?(v: VerdictJson): void;
}

export class Session {
  readonly correlator = new Correlator();
  readonly started = Date.now();
  private readonly counts: Record<string, number> = {};
  private total = 0;
  private readonly probe: RouteProbe;

  constructor(
    readonly observer: Observer,
    private readonly handlers: SessionHandlers,
  ) {
    this.probe = new RouteProbe(observer.addon, (ev) => this.take(ev));
    observer.on('events', (events) => {
      for (const ev of events) this.take(observer.json(ev), ev.snap);
    });
  }

  private take(ev: CorrelatorEvent, snap?: Buffer): void {
    this.counts[ev.kind] = (this.counts[ev.kind] ?? 0) + 1;
    this.total++;
    this.handlers.event?.(ev, snap);
    for (const v of this.correlator.push(ev)) this.handlers.verdict?.(v);
    // Only for flows seen themselves: a flood of spoofed PTBs must not turn
    // into a flood of route lookups.
    if (ev.kind !== 'route' && this.correlator.confirmed(ev)) this.probe.observe(ev);
  }

  get events(): number {
    return this.total;
  }

  stats(): StatsJson {
    return {
      type: 'stats',
      elapsedS: Math.round((Date.now() - this.started) / 100) / 10,
      interfaces: this.observer.attachments().length,
      events: { ...this.counts },
      losses: this.observer.losses(),
      flows: this.correlator.stats(),
    };
  }

  close(): void {
    this.probe.stop();
    this.observer.close();
  }
}
