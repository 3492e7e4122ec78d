// The kernel as a session's source: the observer's decoded batches (named by
// the session), its warnings and errors, its losses; route lookups through its addon.

import type { TrafficJson } from '../contract/stats.js';
import type { RouteLookups } from '../observer/route-probe.js';
import type { ObserverLosses } from '../contract/stats.js';
import type { Observer } from '../observer/index.js';
import type { Session } from '../session.js';
import type { Source } from './source.js';

export class KernelSource implements Source {
  readonly live = true;

  constructor(readonly observer: Observer) {}

  get routes(): RouteLookups {
    const { addon, namers } = this.observer;
    return { routeGet: (path, dst) => addon.routeGet(path, dst), pathOf: (netns) => namers.netns.pathOf(netns) };
  }

  attach(session: Session): void {
    const observer = this.observer;
    observer.on('events', (events) => session.takeDecoded(events, observer.namers));
    observer.on('link', (ev) => session.take(ev));
    for (const w of observer.warnings) session.warning(w);
    observer.on('warning', (message) => session.warning(message));
    observer.on('error', (err) => session.error(err));
  }

  /** The kernel never runs out: until stopped. */
  run(stop: Promise<void>): Promise<void> {
    return stop;
  }

  now(): number {
    return Date.now();
  }

  interfaces(): number {
    return this.observer.attachments().length;
  }

  losses(): ObserverLosses {
    return this.observer.losses();
  }

  traffic(): TrafficJson {
    return this.observer.traffic();
  }

  close(): void {
    this.observer.close();
  }
}
