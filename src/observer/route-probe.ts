// "Was the PTB applied?": after a PTB reaches a host, look up that host's
// route to the destination the PTB was about and report whether the kernel
// cached the MTU. The answer becomes an event in the stream, so the
// correlator stays pure and captures replay it.

import type { EventJson, RouteEventJson } from '../contract/event.js';
import { appliedPmtu, familyOf } from '../net/pmtu.js';
import type { NativeAddon } from './addon.js';

/** Route lookups in a namespace known by its stable name. */
export interface RouteLookups extends Pick<NativeAddon, 'routeGet'> {
  /** The file to enter it by (null: ours); undefined: nothing to enter by. */
  pathOf(netns: string): string | null | undefined;
}

export interface RouteProbeOptions {
  /** How long after the PTB to look (the kernel applies it on receipt; a little slack). */
  delayMs?: number;
  /** Looks of the same namespace, destination and MTU are at least this far apart. */
  minGapMs?: number;
  /** Wall-clock time, to space the looks. */
  nowMs?: () => number;
}

/** Lookups waiting for their moment at once, at most. */
const MAX_PENDING_LOOKS = 256;

export class RouteProbe {
  private readonly last = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly delayMs: number;
  private readonly minGapMs: number;
  private readonly nowMs: () => number;

  constructor(
    private readonly routes: RouteLookups,
    private readonly emit: (ev: RouteEventJson) => void,
    opts: RouteProbeOptions = {},
  ) {
    this.delayMs = opts.delayMs ?? 50;
    this.minGapMs = opts.minGapMs ?? 1000;
    this.nowMs = opts.nowMs ?? Date.now;
  }

  /** Looks at every event; acts on PTBs arriving at a host. */
  observe(ev: EventJson): void {
    if (ev.kind !== 'ptb' || ev.dir !== 'ingress' || !ev.inner || !ev.mtu) return;
    const path = this.routes.pathOf(ev.netns);
    if (path === undefined) return;
    if (this.timers.size >= MAX_PENDING_LOOKS) return; // a burst of PTBs: the looks already due answer for it
    // A PTB about a tunnel's packet teaches the route to the tunnel's far end, not to the flow's.
    const dst = ev.encap?.quoted ? ev.encap.dst : ev.inner.dst;
    const key = `${ev.netns}|${dst}|${ev.mtu}`;
    const now = this.nowMs();
    if (now - (this.last.get(key) ?? -Infinity) < this.minGapMs) return;
    this.last.set(key, now);
    if (this.last.size > 4096) this.last.clear(); // bounded; at worst a repeated look
    const { inner, netns, ts: ptbTs } = ev;
    // A PTB below the kernel's floor still teaches it the floor.
    const mtu = appliedPmtu(familyOf(dst), ev.mtu);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      let route;
      try {
        route = this.routes.routeGet(path, dst);
      } catch {
        return; // the namespace went away meanwhile
      }
      this.emit({
        type: 'event',
        kind: 'route',
        ts: ptbTs + this.delayMs, // event time, as the kernel's clock gives it, not the wall clock
        netns,
        dst,
        inner: { src: inner.src, dst: inner.dst, sport: inner.sport, dport: inner.dport, proto: inner.proto },
        mtu: route.mtu,
        expected: mtu,
        learned: route.mtu > 0 && route.mtu <= mtu,
      });
    }, this.delayMs);
    this.timers.add(timer);
  }

  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
