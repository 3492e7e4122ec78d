// A host that generates "fragmentation needed" for a remote sender which
// keeps sending the same too-big segments (seed 003's node): ptb-not-honored
// at that host, with the counts; and the cases that only look like it.

import { describe, expect, it } from 'vitest';

import { Correlator } from '../../src/correlate/correlator.js';
import type { CorrelatorEvent, EventJson, FlowStateJson, RouteEventJson } from '../../src/contract/event.js';

const S = '198.18.44.1'; // the remote server (anycast)
const I = '198.18.42.2'; // the container downloading from it
const FROM_S = { src: S, dst: I, sport: 443, dport: 40000, proto: 'tcp' } as const;

const KNOWN: FlowStateJson = {
  known: true,
  since: 0,
  initiator: 'dst',
  syn: { first: 1460, firstIface: 'veth-d', last: 1460, lastIface: 'to-edge' },
  synAck: { first: 1460, firstIface: 'to-edge', last: 1460, lastIface: 'veth-d' },
  largest: { fwd: 1500, rev: 0 },
  minMtu: { mtu: 1450, iface: 'veth-d' },
};

/** The PTB h's IPv4 stack generates for one of S's segments. */
function ptbSent(ts: number): EventJson {
  return {
    type: 'event',
    kind: 'ptb-sent',
    ts,
    netns: 'h',
    iface: 'to-edge',
    dir: null,
    dst: S,
    mtu: 1450,
    len: 1500,
    mtuIface: 'veth-d',
    inner: { ...FROM_S, len: 1500 },
    flow: KNOWN,
    flags: ['df', 'icmp-error', 'local'],
  };
}

/** The segment itself, dropped by h for being too big for veth-d. */
function tooBig(ts: number, len = 1500): EventJson {
  return { type: 'event', kind: 'drop', ts, netns: 'h', iface: 'to-edge', dir: null, ...FROM_S, mtu: 1450, len, reason: 'PKT_TOO_BIG', mtuIface: 'veth-d', flow: KNOWN, flags: ['df'] };
}

/** A router's drop and its PTB, as the kernel reports them (the PTB first). */
const dropAt = (ts: number) => [ptbSent(ts), tooBig(ts + 0.1)];

function finalVerdict(events: CorrelatorEvent[]) {
  const c = new Correlator();
  for (const e of events) c.push(e);
  const [v] = c.verdicts();
  return v!;
}

describe('ptb-not-honored', () => {
  it('one verdict line when it is first seen, and the counts go on in verdicts()', () => {
    const c = new Correlator();
    const lines = [0, 200, 600, 1400, 3000].flatMap(dropAt).flatMap((e) => c.push(e));
    expect(lines.filter((v) => v.verdict === 'ptb-not-honored')).toHaveLength(1);
    expect(c.verdicts()[0]!.evidence.map((e) => e.what).join('\n')).toContain('5 packets of up to 1500 bytes dropped here over 3.0 s, 3 of them');
  });

  it('the same segment retransmitted after the PTBs (RTO backing off: 0, 200, 600, 1400 ms): at h, on veth-d, MTU 1450, with the counts and a fix', () => {
    const v = finalVerdict([0, 200, 600, 1400].flatMap(dropAt));
    expect(v).toMatchObject({ verdict: 'ptb-not-honored', cause: null, mtu: 1450, where: { netns: 'h', iface: 'veth-d', hop: null }, bounds: { largestOk: null, smallestLost: 1500 } });
    const what = v.evidence.map((e) => e.what).join('\n');
    expect(what).toContain(`generated 4 PTBs to ${S} advertising MTU 1450 (route via veth-d)`);
    expect(what).toContain(`${S} kept sending: 4 packets of up to 1500 bytes dropped here over 1.4 s, 2 of them 500 ms or more after the first PTB`);
    expect(v.notes.join('\n')).toMatch(/198\.18\.44\.1 never sent smaller after h's PTBs advertising MTU 1450: .*anycast/);
    expect(v.fix).toContain('nft add rule inet mangle forward iifname "veth-d" tcp flags syn tcp option maxseg size > 1410 tcp option maxseg size set 1410');
    expect(v.fix).toContain('dockerd --mtu 1450');
  });

  it('what was in flight when the PTB left, dropped within a round trip, is no sign: ptb-honored', () => {
    const burst = [ptbSent(0), ...[0.1, 0.2, 0.3, 40, 120].map((t) => tooBig(t))];
    expect(finalVerdict(burst).verdict).toBe('ptb-honored');
  });

  it('a cached PMTU expiring (the next PTB 10 minutes on) starts a new run: ptb-honored', () => {
    expect(finalVerdict([...dropAt(0), ...dropAt(600_000)]).verdict).toBe('ptb-honored');
  });

  it('packets that fit the advertised MTU, dropped later for another cause, do not count', () => {
    expect(finalVerdict([...dropAt(0), tooBig(900, 1450), tooBig(1800, 1400)]).verdict).toBe('ptb-honored');
  });

  it('a sender seen caching the MTU has heeded it, whatever came after', () => {
    const learned: RouteEventJson = { type: 'event', kind: 'route', ts: 300, netns: 's', dst: I, inner: FROM_S, mtu: 1450, learned: true, expected: 1450 };
    const v = finalVerdict([...dropAt(0), learned, ...dropAt(900)]);
    expect(v.verdict).toBe('ptb-honored');
  });
});

describe('ptb-not-honored, seen as retransmissions (a capture, a watched sender)', () => {
  const R1 = '198.18.1.1';
  /** A router's PTB on its way to the sender S, seen at capture point cap. */
  const ptbSeen = (ts: number): EventJson => ({
    type: 'event',
    kind: 'ptb',
    ts,
    netns: 'cap',
    iface: 'eth0',
    dir: 'egress',
    src: R1,
    dst: S,
    proto: 'icmp',
    mtu: 1450,
    len: 576,
    inner: { ...FROM_S, len: 1500 },
    flow: KNOWN,
    flags: ['icmp-error'],
  });
  const rtx = (ts: number, len = 1500, timeouts = 1): EventJson => ({ type: 'event', kind: 'retransmit', ts, netns: 'cap', iface: 'eth0', dir: 'ingress', ...FROM_S, len, mss: 1460, timeouts, flow: KNOWN, flags: [] });

  it('the same 1500-byte segment again at +0.2, +0.6, +1.4 s after a PTB for 1450: at the PTB, with its hop and the RTO timing', () => {
    const v = finalVerdict([ptbSeen(0), rtx(200, 1500, 1), rtx(600, 1500, 2), rtx(1400, 1500, 3)]);
    expect(v).toMatchObject({ verdict: 'ptb-not-honored', mtu: 1450, where: { netns: 'cap', iface: 'eth0', hop: R1 }, bounds: { smallestLost: 1500 } });
    const what = v.evidence.map((e) => e.what).join('\n');
    expect(what).toContain(`${S} kept sending: 3 retransmissions of up to 1500 bytes after the PTB over 1.4 s, 2 of them 500 ms or more after the first PTB (at +0.60, +1.40 s: the RTO backing off)`);
    expect(v.notes.join('\n')).toContain(`never sent smaller after the PTB from ${R1} (seen at cap/eth0) advertising MTU 1450`);
  });

  it('retransmitted at the new size (1450 or less) is heeding it: ptb-honored', () => {
    expect(finalVerdict([ptbSeen(0), rtx(200, 1450), rtx(600, 1400), rtx(1400, 1450)]).verdict).toBe('ptb-honored');
  });
});

describe('silent black hole evidence', () => {
  it('says when the retransmissions came: the RTO backing off', () => {
    const rtx = (ts: number, timeouts: number): EventJson => ({ type: 'event', kind: 'retransmit', ts, netns: 's', iface: 'eth0', dir: null, ...FROM_S, len: 1500, mss: 1460, timeouts, flow: KNOWN, flags: [] });
    const v = finalVerdict([rtx(0, 1), rtx(200, 2), rtx(600, 3), rtx(1400, 4)]);
    expect(v.verdict).toBe('silent-blackhole');
    expect(v.evidence.map((e) => e.what).join('\n')).toContain('at +0.00, +0.20, +0.60, +1.40 s from the first; no PTB seen');
  });
});

describe('a sender falling back after a black hole (a capture)', () => {
  it('its 576-byte resends are no loss: the bounds stay at the large size, and the evidence says it fell back', () => {
    const rtx = (ts: number, timeouts: number, len = 1500): EventJson => ({ type: 'event', kind: 'retransmit', ts, netns: 'cap', iface: 'cap', dir: null, ...FROM_S, len, mss: 1460, timeouts, flow: KNOWN, flags: len > 616 ? ['df'] : [] });
    const v = finalVerdict([rtx(0, 1), rtx(200, 2), rtx(600, 3), rtx(1400, 4), rtx(3000, 5, 576), rtx(3001, 5, 576)]);
    expect(v).toMatchObject({ verdict: 'silent-blackhole', cause: 'no-ptb', bounds: { smallestLost: 1500 } });
    expect(v.evidence.map((e) => e.what).join('\n')).toMatch(/^4 retransmissions of segments from 1500 bytes .*; then it resent the data in 576-byte packets \(its black-hole detection falling back\)$/m);
  });
});
