// The search on a fake path: hops with MTUs, each either answering PTBs,
// sending them into a host that drops them (seen by the observers), or
// silent; the search must find the path MTU, the PTB and the black hole,
// within its bounds of time and probes.

import { describe, expect, it } from 'vitest';

import type { Answer } from '../../src/probe/packets.js';
import { DEFAULT_SEARCH, search, type Prober, type SearchOptions } from '../../src/probe/search.js';

interface FakeHop {
  addr: string;
  /** The MTU of its link onwards (Infinity: the destination). */
  mtu: number;
  /** What it does with too-big packets: a PTB that reaches us, one this host drops (fate), or nothing. */
  ptb: 'delivered' | 'rp_filter' | 'firewall' | 'silent';
  /** Its Time Exceeded is dropped on this host by this (rp_filter: the PTB source is its management address). */
  teDropped?: string;
  /** Answers nothing at all to a TTL-limited probe. */
  noTimeExceeded?: boolean;
  /** The address its errors come from (default addr). */
  source?: string;
}

/** A path of hops then dst; a clock that moves only as the prober waits. */
class FakePath implements Prober {
  t = 0;
  sent: { size: number; ttl: number; timeoutMs: number; at: number }[] = [];
  /** Drop this many first copies of each probe (loss). */
  constructor(
    private readonly hops: FakeHop[],
    private readonly dst: string,
    private readonly opts: { lossEvery?: number; dstAnswers?: boolean } = {},
  ) {}

  now(): number {
    return this.t;
  }

  async sleep(ms: number): Promise<void> {
    this.t += ms;
  }

  async probe(size: number, ttl: number, timeoutMs: number): Promise<Answer> {
    this.sent.push({ size, ttl, timeoutMs, at: this.t });
    const none = (): Answer => {
      this.t += timeoutMs;
      return { kind: 'none' };
    };
    if (this.opts.lossEvery && this.sent.length % this.opts.lossEvery === 0) return none();
    for (let i = 0; i < this.hops.length; i++) {
      const h = this.hops[i]!;
      const from = h.source ?? h.addr;
      if (ttl === i + 1) {
        // TTL before MTU, as Linux routers do.
        if (h.noTimeExceeded) return none();
        if (h.teDropped) {
          this.t += timeoutMs;
          return { kind: 'none', seen: { kind: 'time-exceeded', from, fate: h.teDropped, iface: 'eth0' } };
        }
        this.t += 1;
        return { kind: 'time-exceeded', from, rttMs: 1 };
      }
      if (size > h.mtu) {
        if (h.ptb === 'delivered') {
          this.t += 1;
          return { kind: 'too-big', from, mtu: h.mtu, rttMs: 1 };
        }
        if (h.ptb === 'silent') return none();
        this.t += timeoutMs;
        return { kind: 'none', seen: { kind: 'too-big', from, mtu: h.mtu, fate: h.ptb, iface: 'eth0' } };
      }
    }
    if (this.opts.dstAnswers === false) return none();
    this.t += 1;
    return { kind: 'reply', from: this.dst, rttMs: 1 };
  }
}

const O: SearchOptions = { ...DEFAULT_SEARCH, min: 576, max: 9000 };

function path(ptb: FakeHop['ptb'], extra: Partial<FakeHop> = {}): FakeHop[] {
  return [
    { addr: '198.18.1.1', mtu: 1500, ptb, ...extra },
    { addr: '198.18.2.2', mtu: 9000, ptb: 'delivered' },
  ];
}

describe('probe search', () => {
  it('follows a delivered PTB: two probes find the path MTU, and the hop that reported it', async () => {
    const p = new FakePath(path('delivered'), '198.18.3.2');
    const r = await search(p, O);
    expect(r.pathMtu).toBe(1500);
    expect(r.smallestLost).toBe(1501);
    expect(r.ptbs[0]).toMatchObject({ from: '198.18.1.1', mtu: 1500, delivered: true });
    expect(r.blackhole).toBeNull();
    // min, max, the advertised MTU: nothing between 1501 and 9000 is tried
    expect(p.sent.slice(0, 3).map((s) => s.size)).toEqual([576, 9000, 1500]);
    expect(p.sent.filter((s) => s.ttl === 64 && s.size > 1500 && s.size < 9000)).toEqual([]);
    expect(r.hops.map((h) => [h.ttl, h.addr, h.atFailingSize])).toEqual([
      [1, '198.18.1.1', 'answered'],
      [2, '198.18.2.2', 'ptb'],
      [3, '198.18.3.2', undefined],
    ]);
  });

  it('a silent hop: binary search to the byte, and the black hole after the last hop that answered at the failing size', async () => {
    const p = new FakePath(path('silent'), '198.18.3.2');
    const r = await search(p, O);
    expect(r.pathMtu).toBe(1500);
    expect(r.smallestLost).toBe(1501);
    expect(r.ptbs).toEqual([]);
    expect(r.blackhole).toEqual({ after: '198.18.1.1', ttl: 2 });
    expect(r.exhausted).toBe(false);
    // The budget is simulated time: a lost size costs its tries' waits.
    expect(p.t).toBeLessThan(20_000);
  });

  it('a PTB this host drops (seen by the observers) is used as the next size to try, and located like a black hole', async () => {
    const p = new FakePath(path('firewall'), '198.18.3.2');
    const r = await search(p, O);
    expect(r.pathMtu).toBe(1500);
    expect(r.ptbs[0]).toMatchObject({ from: '198.18.1.1', mtu: 1500, delivered: false, seen: { fate: 'firewall' } });
    expect(p.sent.slice(0, 3).map((s) => s.size)).toEqual([576, 9000, 1500]);
    expect(r.blackhole).toEqual({ after: '198.18.1.1', ttl: 2 });
  });

  it("rp_filter eats the hop's Time Exceeded too: the observers' view names it", async () => {
    const p = new FakePath(path('rp_filter', { source: '198.19.0.1', teDropped: 'rp_filter' }), '198.18.1.2');
    const r = await search(p, O);
    expect(r.hops[0]).toMatchObject({ ttl: 1, addr: '198.19.0.1', rttMs: null, dropped: 'rp_filter', atFailingSize: 'answered' });
    expect(r.blackhole).toEqual({ after: '198.19.0.1', ttl: 2 });
  });

  it('rides out loss: every third probe lost, the same answer', async () => {
    const r = await search(new FakePath(path('delivered'), '198.18.3.2', { lossEvery: 3 }), O);
    expect(r.pathMtu).toBe(1500);
    expect(r.ptbs[0]?.mtu).toBe(1500);
  });

  it('the route MTU gets through: ok, no failing size, no location', async () => {
    const r = await search(new FakePath([{ addr: '198.18.1.1', mtu: 9000, ptb: 'delivered' }], '198.18.2.2'), O);
    expect(r.pathMtu).toBe(9000);
    expect(r.smallestLost).toBeNull();
    expect(r.hops.map((h) => h.atFailingSize)).toEqual([undefined, undefined]);
  });

  it('a destination that never answers: no path MTU, a bounded trace', async () => {
    const p = new FakePath(path('delivered'), '198.18.3.2', { dstAnswers: false });
    const r = await search(p, O);
    expect(r.reachable).toBe(false);
    expect(r.pathMtu).toBeNull();
    expect(r.hops.length).toBeLessThanOrEqual(2 + 3);
  });

  it('bounded: in time and probes, with probes spaced', async () => {
    const p = new FakePath(path('silent'), '198.18.3.2');
    const r = await search(p, { ...O, budgetMs: 3000 });
    expect(r.exhausted).toBe(true);
    expect(p.t).toBeLessThanOrEqual(3000);
    const q = new FakePath(path('silent'), '198.18.3.2');
    const r2 = await search(q, { ...O, maxProbes: 10 });
    expect(r2.probes).toBe(10);
    expect(q.sent.length).toBe(10);
    for (let i = 1; i < q.sent.length; i++) expect(q.sent[i]!.at - q.sent[i - 1]!.at).toBeGreaterThanOrEqual(O.gapMs);
  });

  it('waits long for the first answer, then for a few round trips', async () => {
    const p = new FakePath(path('silent'), '198.18.3.2');
    await search(p, O);
    expect(p.sent[0]!.timeoutMs).toBe(O.firstTimeoutMs);
    expect(p.sent[5]!.timeoutMs).toBe(O.minTimeoutMs);
  });
});
