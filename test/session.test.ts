// The session on the kernel's batches as the observer hands them over (read
// lazily, named once per batch) against the same records decoded whole and
// taken one by one, the way it was done before: a spoofed-PTB flood must
// give the same lines, counters, verdicts and /metrics either way.

import { afterEach, describe, expect, it } from 'vitest';

import type { CorrelatorEvent, LinkEventJson } from '../src/contract/event.js';
import type { VerdictJson } from '../src/contract/verdict.js';
import { Feed } from '../src/feed/server.js';
import { decodeBatch, decodeRecord, RECORD_SIZE } from '../src/observer/decode.js';
import { eventJson, type Namers } from '../src/observer/json.js';
import { DropReasons, IfaceNames, NetnsNames } from '../src/observer/names.js';
import { Session } from '../src/session.js';
import { feedSink } from '../src/sinks/feed.js';
import { JsonLines } from '../src/sinks/json-lines.js';
import { linesTo } from '../src/sinks/output.js';
import { SettledText } from '../src/sinks/text.js';
import type { Sink } from '../src/sinks/sink.js';
import type { Source } from '../src/sources/source.js';
import { fakeNameSources } from './helpers/fake-addon.js';
import { batch, DIR, F, FS, KIND, type RecordSpec } from './helpers/records.js';

const HOST = 4026531840;
const C = 4026532001;
/** A namespace nobody named (a container's). */
const ANON = 4026539999;

function namers(): Namers {
  const reasons: string[] = [];
  reasons[6] = 'PKT_TOO_BIG';
  reasons[9] = 'IP_RPFILTER';
  return { netns: new NetnsNames(fakeNameSources({ c: C }, HOST)), ifaces: new IfaceNames(), reasons: new DropReasons(reasons), epochOffsetMs: 1_795_391_000_000 };
}

/** A source that hands over nothing by itself: the test calls the session. With routes: the route lookups it was asked for. */
function source(routes?: string[]): Source {
  return {
    live: true,
    ...(routes
      ? { routes: { routeGet: (_path: string | null, dst: string) => (routes.push(dst), { found: false, mtu: 0, expires: 0, ifindex: 0 }), pathOf: (netns: string) => (netns === 'c' ? '/run/netns/c' : undefined) } }
      : {}),
    attach() {},
    run: (stop) => stop,
    now: () => 0,
    interfaces: () => 0,
    losses: () => ({ ringbufFull: 0, flowTableFull: 0, queueFull: 0, delivered: 0, unknownRecords: 0 }),
    close() {},
  };
}

/** A spoofed-PTB flood quoting a few flows (some quotes impossible, some flows unknown, one seen later), with the flow's own packets. */
function flood(): Buffer[] {
  let seed = 5;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / 16777216;
  const specs: RecordSpec[] = [];
  for (let i = 0; i < 6000; i++) {
    const r = rand();
    const q = Math.floor(rand() * 4);
    const netns = [C, ANON, HOST][Math.floor(rand() * 3)]!;
    const tsNs = 5_000_000_000_000n + BigInt(i) * 7_000n;
    const inner = { family: 4, src: '198.18.0.2', dst: `198.18.1.${q}`, sport: 40000 + q, dport: 443, proto: 6, len: 1500 };
    if (r < 0.9) {
      specs.push({
        kind: KIND.ptb,
        dir: DIR.ingress,
        flags: F.df | F.icmpErr | (rand() < 0.3 ? F.quoteMismatch : 0),
        icmpType: 3,
        icmpCode: 4,
        tsNs,
        netns,
        ifindex: 2,
        ifname: 'eth0',
        mtu: [1400, 1300, 552][Math.floor(rand() * 3)],
        len: 576,
        outer: { family: 4, src: `198.19.0.${Math.floor(rand() * 3)}`, dst: '198.18.0.2', proto: 1, len: 576 },
        inner,
        snap: Buffer.alloc(64, i & 255),
      });
    } else if (r < 0.95) {
      specs.push({ kind: KIND.drop, flags: F.icmpErr, tsNs, netns, ifindex: 2, ifname: 'eth0', reason: 9, mtu: 1400, len: 576, outer: { family: 4, src: '198.19.0.1', dst: '198.18.0.2', proto: 1 }, inner });
    } else {
      // The flow's own SYN, known to the kernel: flow 0 and 1 get confirmed along the way.
      specs.push({
        kind: KIND.syn,
        dir: DIR.egress,
        flags: F.df,
        tsNs,
        netns: C,
        ifindex: 2,
        ifname: 'eth0',
        mtu: 1500,
        len: 60,
        mss: 1460,
        outer: { ...inner, dst: `198.18.1.${q % 2}`, sport: 40000 + (q % 2), len: 60 },
        state: { firstNs: tsNs, lastNs: tsNs, mssFirst: [1460, 0], mssLast: [1460, 0], flags: FS.known | FS.syn },
      });
    }
  }
  const batches: Buffer[] = [];
  for (let i = 0; i < specs.length; i += 1000) batches.push(batch(...specs.slice(i, i + 1000)));
  return batches;
}

let feeds: Feed[] = [];
afterEach(async () => {
  await Promise.all(feeds.map((f) => f.close()));
  feeds = [];
});

async function run(take: (s: Session, batches: Buffer[], n: Namers) => void) {
  const lines: string[] = [];
  const packets: (string | undefined)[] = [];
  let session: Session | undefined;
  const feed = await Feed.start({ host: '127.0.0.1', port: 0, snapshot: () => [], stats: () => session?.stats() });
  feeds.push(feed);
  const capture: Sink = { packets: true, event: (_ev: CorrelatorEvent, snap?: Buffer) => packets.push(snap?.toString('hex')) };
  session = new Session(source(), [new JsonLines(linesTo((l) => lines.push(l))), feedSink(feed), capture]);
  take(session, flood(), namers());
  const metrics = (await (await fetch(`http://127.0.0.1:${feed.address().port}/metrics`)).text())
    .split('\n')
    .filter((l) => l.startsWith('pmtu_'))
    .sort();
  const { elapsedS: _, ...stats } = session.stats();
  return { lines, packets, metrics, stats, verdicts: session.correlator.verdicts() as VerdictJson[] };
}

describe('Session on the kernel batches', () => {
  it('a spoofed-PTB flood read lazily gives the lines, counters, /metrics and verdicts of the records decoded whole', async () => {
    const lazy = await run((s, batches, n) => {
      for (const b of batches) s.takeDecoded(decodeBatch(b).events, n);
    });
    const whole = await run((s, batches, n) => {
      for (const b of batches) {
        for (let o = 0; o < b.length; o += RECORD_SIZE) {
          const ev = decodeRecord(b, o)!;
          s.take(eventJson(ev, n), ev.snap);
        }
      }
    });
    expect(lazy.lines.length).toBeGreaterThan(6000);
    expect(lazy.lines).toEqual(whole.lines);
    expect(lazy.stats).toEqual(whole.stats);
    expect(lazy.stats.flows.unmatched).toBeGreaterThan(0);
    expect(lazy.stats.flows.flows).toBe(2);
    expect(lazy.verdicts.map((v) => v.verdict)).toEqual(['ptb-dropped', 'ptb-dropped']);
    expect(lazy.verdicts).toEqual(whole.verdicts);
    expect(lazy.metrics).toEqual(whole.metrics);
    expect(lazy.metrics).toContain('pmtu_events_total{kind="ptb"} ' + String(lazy.stats.events.ptb));
    expect(lazy.metrics.some((l) => l.startsWith('pmtu_unmatched_icmp_errors '))).toBe(true);
    // The packets went to the sink that reads them, as they were.
    expect(lazy.packets).toEqual(whole.packets);
    // A namespace nobody named keeps its inode for a name.
    expect(lazy.lines.some((l) => l.includes(`"netns":"netns:${ANON}"`))).toBe(true);
  });

  it("cuts no packet out of a record when no sink reads packets; one added later gets them", () => {
    const snaps: (Buffer | undefined)[] = [];
    const session = new Session(source(), [{ event: (_ev: CorrelatorEvent, snap?: Buffer) => snaps.push(snap) }]);
    const [first, second] = flood();
    session.takeDecoded(decodeBatch(first!).events, namers());
    expect(snaps.length).toBe(1000);
    expect(snaps.every((s) => s === undefined)).toBe(true);
    session.add({ packets: true });
    session.takeDecoded(decodeBatch(second!).events, namers());
    expect(snaps.slice(1000).some((s) => s !== undefined && s.length === 64)).toBe(true);
  });

  it('with no sink taking events, quote-mismatch events skip their line: the same counters, verdicts, settled text and route lookups', async () => {
    const go = async (take: (s: Session, b: Buffer, n: Namers) => void) => {
      const routes: string[] = [];
      const text: string[] = [];
      const session = new Session(source(routes), [new SettledText(linesTo((l) => text.push(l)), () => 0), { stats() {} }]);
      const n = namers();
      for (const b of flood()) take(session, b, n);
      session.tick(Infinity);
      await new Promise((r) => setTimeout(r, 120)); // the probe looks 50 ms after a PTB
      const { elapsedS: _, ...stats } = session.stats();
      session.close();
      return { stats, verdicts: session.correlator.verdicts(), text, routes };
    };
    const lazy = await go((s, b, n) => s.takeDecoded(decodeBatch(b).events, n));
    const whole = await go((s, b, n) => {
      for (let o = 0; o < b.length; o += RECORD_SIZE) {
        const ev = decodeRecord(b, o)!;
        s.take(eventJson(ev, n), ev.snap);
      }
    });
    expect(lazy.stats).toEqual(whole.stats);
    expect(lazy.stats.events.ptb).toBeGreaterThan(5000);
    expect(lazy.verdicts).toEqual(whole.verdicts);
    expect(lazy.text).toEqual(whole.text);
    expect(lazy.text.length).toBe(2);
    // PTBs arriving in the host namespace about the flows seen: looked up, quote-mismatch or not.
    expect(lazy.routes).toEqual(whole.routes);
    expect(lazy.routes.length).toBeGreaterThan(0);
  });
});

describe('link changes in a session', () => {
  const link: LinkEventJson = { type: 'event', kind: 'link', ts: Date.UTC(2026, 0, 1, 12, 0, 1, 250), netns: 'pve', iface: 'tap100i1', changes: ['mtu'], mtu: 1500, master: 'vmbr0', up: true, was: { mtu: 9000 } };

  it('reach the sinks (plain text with or without --events, JSON lines) and never the correlator', () => {
    const text: string[] = [];
    const quiet: string[] = [];
    const json: string[] = [];
    const session = new Session(source(), [new SettledText(linesTo((l) => text.push(l)), () => 0, { events: true }), new SettledText(linesTo((l) => quiet.push(l)), () => 0), new JsonLines(linesTo((l) => json.push(l)))]);
    session.take(link);
    session.take({ ...link, iface: 'tap100i2', changes: ['master', 'down'], mtu: 9000, master: '', up: false, was: { master: 'vmbr0' } });
    expect(text).toEqual(['12:00:01.250 LINK pve/tap100i1 mtu 9000 -> 1500', '12:00:01.250 LINK pve/tap100i2 left vmbr0, down']);
    expect(quiet).toEqual(text);
    expect(JSON.parse(json[0]!)).toEqual(link);
    expect(session.correlator.stats().events).toBe(0);
  });
});
