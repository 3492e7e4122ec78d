// The `live --json` event line (docs/json-contract.md): which fields each kind
// carries, in which order, and how numbers become names.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import type { PmtuEvent } from '../../src/observer/events.js';
import { decodeBatch, plainEvent, RECORD_SIZE, RECORD_LAYOUT, UNKNOWN_FLOW } from '../../src/observer/decode.js';
import { protoName } from '../../src/contract/event.js';
import { epochMs, eventJson, type Namers } from '../../src/observer/json.js';
import { DropReasons, IfaceNames, NetnsNames } from '../../src/observer/names.js';
import { fakeNameSources } from '../helpers/fake-addon.js';

const HOST = 4026531840;
const C = 4026532001;
const R1 = 4026532002;
const OFFSET_MS = 1_795_391_000_000;

function namers(): Namers {
  const ifaces = new IfaceNames();
  ifaces.set(C, 2, 'to-r1');
  ifaces.set(R1, 2, 'to-c');
  ifaces.set(R1, 3, 'to-r2');
  const reasons: string[] = [];
  reasons[2] = 'NOT_SPECIFIED';
  reasons[6] = 'PKT_TOO_BIG';
  reasons[9] = 'IP_RPFILTER';
  return {
    netns: new NetnsNames(fakeNameSources({ c: C, r1: R1 }, HOST)),
    ifaces,
    reasons: new DropReasons(reasons),
    epochOffsetMs: OFFSET_MS,
  };
}

const NO_FLAGS = { df: false, gso: false, icmpError: false, oversize: false, synAck: false, innerTruncated: false, local: false, quoteMismatch: false };

function event(e: Partial<PmtuEvent> & Pick<PmtuEvent, 'kind'>): PmtuEvent {
  return {
    dir: null,
    tsNs: 519_474_794_000n,
    netnsInode: C,
    ifindex: 2,
    ifname: '',
    mtu: 0,
    len: 0,
    mss: 0,
    vlan: 0,
    reason: 0,
    icmpType: 0,
    icmpCode: 0,
    timeouts: 0,
    mtuIfindex: 0,
    mtuNetnsInode: 0,
    mtuIfname: '',
    outer: null,
    inner: null,
    state: UNKNOWN_FLOW,
    encap: null,
    snap: Buffer.alloc(0),
    ...e,
    flags: { ...NO_FLAGS, ...e.flags },
  };
}

/** The event example of docs/json-contract.md, as written there. */
const CONTRACT_EXAMPLE = (() => {
  const doc = readFileSync(fileURLToPath(new URL('../../docs/json-contract.md', import.meta.url)), 'utf8');
  const m = /```json\n(\{"type":"event".*\})\n```/.exec(doc);
  if (!m) throw new Error('docs/json-contract.md has no event example');
  return m[1]!;
})();

const TCP_FLOW = { family: 4, src: '198.18.0.2', dst: '198.18.3.2', sport: 40000, dport: 443, proto: 6, len: 1500 } as const;

describe('eventJson', () => {
  it("reproduces the contract's example line byte for byte (a PTB eaten by rp_filter)", () => {
    const line = eventJson(
      event({
        kind: 'drop',
        reason: 9,
        mtu: 1500,
        len: 576,
        flags: { ...NO_FLAGS, icmpError: true },
        outer: { family: 4, src: '198.19.0.1', dst: '198.18.1.2', sport: 0, dport: 0, proto: 1, len: 576 },
        inner: { family: 4, src: '198.18.1.2', dst: '198.18.3.2', sport: 0, dport: 0, proto: 1, len: 4028 },
        state: { ...UNKNOWN_FLOW, known: true, firstNs: 519_470_500_000n, lastNs: 519_474_700_000n, largest: [4028, 0], minMtu: 9000, minMtuIfindex: 2 },
      }),
      namers(),
    );
    expect(JSON.stringify(line)).toBe(CONTRACT_EXAMPLE);
  });

  it('ptb: the packet, the advertised MTU and the quoted flow', () => {
    const line = eventJson(
      event({
        kind: 'ptb',
        dir: 'ingress',
        ifname: 'to-r1',
        mtu: 1400,
        len: 576,
        icmpType: 3,
        icmpCode: 4,
        flags: { ...NO_FLAGS, df: true, icmpError: true },
        outer: { family: 4, src: '198.18.1.1', dst: '198.18.0.2', sport: 0, dport: 0, proto: 1, len: 576 },
        inner: TCP_FLOW,
      }),
      namers(),
    );
    expect(Object.keys(line)).toEqual(['type', 'kind', 'ts', 'netns', 'iface', 'dir', 'src', 'dst', 'sport', 'dport', 'proto', 'mtu', 'len', 'inner', 'flow', 'flags']);
    expect(line).toEqual({
      type: 'event',
      kind: 'ptb',
      ts: 1795391519474.794,
      netns: 'c',
      iface: 'to-r1',
      dir: 'ingress',
      src: '198.18.1.1',
      dst: '198.18.0.2',
      sport: 0,
      dport: 0,
      proto: 'icmp',
      mtu: 1400,
      len: 576,
      inner: { src: '198.18.0.2', dst: '198.18.3.2', sport: 40000, dport: 443, proto: 'tcp', len: 1500 },
      flow: { known: false },
      flags: ['df', 'icmp-error'],
    });
  });

  it("ptb-sent from the tracepoint: no packet yet, dst is the quoted flow's source, the route's device", () => {
    const line = eventJson(
      event({
        kind: 'ptb-sent',
        netnsInode: R1,
        ifindex: 2,
        mtu: 1500,
        mtuIfindex: 3,
        mtuNetnsInode: R1,
        flags: { ...NO_FLAGS, icmpError: true, local: true },
        inner: { family: 4, src: '198.18.0.2', dst: '198.18.3.2', sport: 0, dport: 0, proto: 1, len: 4028 },
      }),
      namers(),
    );
    expect(Object.keys(line)).toEqual(['type', 'kind', 'ts', 'netns', 'iface', 'dir', 'dst', 'mtu', 'mtuIface', 'inner', 'flow', 'flags']);
    expect(line).toMatchObject({ netns: 'r1', iface: 'to-c', dir: null, dst: '198.18.0.2', mtu: 1500, mtuIface: 'to-r2' });
    expect(line.src).toBeUndefined();
    expect(line.mtuNetns).toBeUndefined();
    expect(line.flags).toEqual(['icmp-error', 'local']);
  });

  it('ptb-sent seen leaving a hook (IPv6) takes src and dst from the packet itself', () => {
    const line = eventJson(
      event({
        kind: 'ptb-sent',
        dir: 'egress',
        mtu: 1280,
        len: 1280,
        outer: { family: 6, src: '2001:db8:1::1', dst: '2001:db8::2', sport: 0, dport: 0, proto: 58, len: 1280 },
        inner: { family: 6, src: '2001:db8::2', dst: '2001:db8:3::2', sport: 1, dport: 2, proto: 17, len: 1500 },
      }),
      namers(),
    );
    expect(line).toMatchObject({ src: '2001:db8:1::1', dst: '2001:db8::2', proto: 'icmpv6' });
    expect(line.inner?.proto).toBe('udp');
  });

  it('drop of an oversize packet: reason name, and the device it exceeded in another namespace', () => {
    const line = eventJson(
      event({
        kind: 'drop',
        ifname: 'br0',
        ifindex: 7,
        netnsInode: HOST,
        mtu: 1500,
        len: 9000,
        reason: 2,
        vlan: 10,
        mtuIfindex: 2,
        mtuNetnsInode: R1,
        mtuIfname: 'to-c',
        flags: { ...NO_FLAGS, df: true, oversize: true, gso: true },
        outer: { ...TCP_FLOW, len: 9000 },
      }),
      namers(),
    );
    expect(Object.keys(line)).toEqual([
      'type', 'kind', 'ts', 'netns', 'iface', 'dir', 'src', 'dst', 'sport', 'dport', 'proto', 'mtu', 'len', 'reason', 'mtuIface', 'mtuNetns', 'vlan', 'flow', 'flags',
    ]);
    expect(line).toMatchObject({
      netns: 'host',
      iface: 'br0',
      sport: 40000,
      dport: 443,
      reason: 'NOT_SPECIFIED',
      mtuIface: 'to-c',
      mtuNetns: 'r1',
      vlan: 10,
      flags: ['df', 'gso', 'oversize'],
    });
    expect(line.mss).toBeUndefined();
  });

  it('mtuIface only when the MTU belongs to another device; mtuNetns only when that is in another namespace', () => {
    const n = namers();
    const base = { kind: 'drop' as const, mtu: 1500, len: 1600, reason: 6 };
    const same = eventJson(event({ ...base, ifindex: 2, mtuIfindex: 2, mtuNetnsInode: C }), n);
    expect(same.mtuIface).toBeUndefined();
    expect(same.mtuNetns).toBeUndefined();

    const otherDev = eventJson(event({ ...base, ifindex: 2, mtuIfindex: 5, mtuNetnsInode: C, mtuIfname: 'eth5' }), n);
    expect(otherDev.mtuIface).toBe('eth5');
    expect(otherDev.mtuNetns).toBeUndefined();

    // The same index in another namespace is another device (a veth's peer).
    const peer = eventJson(event({ ...base, ifindex: 2, mtuIfindex: 2, mtuNetnsInode: R1 }), n);
    expect(peer.mtuIface).toBe('to-c');
    expect(peer.mtuNetns).toBe('r1');

    const none = eventJson(event({ ...base, mtuIfindex: 0, mtuNetnsInode: R1 }), n);
    expect(none.mtuIface).toBeUndefined();
    expect(none.mtuNetns).toBeUndefined();
  });

  it('an unknown drop reason and an unknown namespace still get names', () => {
    const line = eventJson(event({ kind: 'drop', reason: 77, netnsInode: 4026539999, ifindex: 4 }), namers());
    expect(line).toMatchObject({ reason: 'reason-77', netns: 'netns:4026539999', iface: 'if4' });
  });

  it('syn: the MSS (0 when the option is absent is still reported) and the synack flag', () => {
    const n = namers();
    const synack = eventJson(
      event({ kind: 'syn', dir: 'egress', ifname: 'to-r1', mtu: 9000, len: 60, mss: 8960, flags: { ...NO_FLAGS, df: true, synAck: true }, outer: TCP_FLOW }),
      n,
    );
    expect(Object.keys(synack)).toEqual(['type', 'kind', 'ts', 'netns', 'iface', 'dir', 'src', 'dst', 'sport', 'dport', 'proto', 'mtu', 'len', 'mss', 'flow', 'flags']);
    expect(synack).toMatchObject({ mss: 8960, proto: 'tcp', flags: ['df', 'synack'] });
    expect(eventJson(event({ kind: 'syn', outer: TCP_FLOW }), n).mss).toBe(0);
  });

  it("retransmit: the segment and the socket's MSS", () => {
    const line = eventJson(event({ kind: 'retransmit', mtu: 1500, len: 1500, mss: 1448, timeouts: 2, outer: TCP_FLOW, flags: { ...NO_FLAGS, df: true } }), namers());
    expect(Object.keys(line)).toEqual(['type', 'kind', 'ts', 'netns', 'iface', 'dir', 'src', 'dst', 'sport', 'dport', 'proto', 'mtu', 'len', 'mss', 'timeouts', 'flow', 'flags']);
    expect(line).toMatchObject({ kind: 'retransmit', mtu: 1500, len: 1500, mss: 1448, timeouts: 2, dir: null });
  });

  it('size: no mss, no reason', () => {
    const line = eventJson(
      event({ kind: 'size', dir: 'ingress', ifname: 'to-r1', mtu: 9000, len: 8940, outer: { ...TCP_FLOW, proto: 17, len: 8940 } }),
      namers(),
    );
    expect(Object.keys(line)).toEqual(['type', 'kind', 'ts', 'netns', 'iface', 'dir', 'src', 'dst', 'sport', 'dport', 'proto', 'mtu', 'len', 'flow', 'flags']);
    expect(line).toMatchObject({ proto: 'udp', len: 8940, flags: [] });
  });

  it('every flag, in the documented order', () => {
    const all = { df: true, gso: true, icmpError: true, oversize: true, synAck: true, innerTruncated: true, local: true, quoteMismatch: true };
    expect(eventJson(event({ kind: 'drop', flags: all }), namers()).flags).toEqual([
      'df', 'gso', 'icmp-error', 'oversize', 'synack', 'inner-truncated', 'local', 'quote-mismatch',
    ]);
  });

  it('fields that do not apply are left out, not null (except dir)', () => {
    const line = eventJson(event({ kind: 'size' }), namers());
    expect(line).toEqual({ type: 'event', kind: 'size', ts: 1795391519474.794, netns: 'c', iface: 'to-r1', dir: null, flow: { known: false }, flags: [] });
    expect(JSON.stringify(line)).not.toContain('undefined');
  });
});

describe('protoName', () => {
  it('names the protocols of the contract, else keeps the number', () => {
    expect([1, 6, 17, 58, 132].map(protoName)).toEqual(['icmp', 'tcp', 'udp', 'icmpv6', 'sctp']);
    expect(protoName(47)).toBe(47);
    expect(protoName(0)).toBe(0);
  });
});

describe('epochMs', () => {
  it('kernel monotonic ns plus the epoch offset, to the microsecond', () => {
    expect(epochMs(519_474_794_000n, OFFSET_MS)).toBe(1795391519474.794);
    expect(epochMs(519_474_000_000n, OFFSET_MS)).toBe(1795391519474);
    // Sub-microsecond digits are rounded away; at epoch magnitudes a double
    // holds about a quarter of a microsecond, so allow the last digit to differ.
    expect(Math.abs(epochMs(519_474_794_321n, OFFSET_MS) - 1795391519474.794)).toBeLessThanOrEqual(0.001);
    expect(epochMs(0n, OFFSET_MS)).toBe(OFFSET_MS);
    expect(epochMs(1_000_000n, 0.5)).toBe(1.5);
  });
});

describe('eventJson: the kernel flow state', () => {
  it('names the hooks of a known flow in its namespace, and says when it was first seen', () => {
    const n = namers();
    n.ifaces.set(C, 7, 'to-c');
    n.ifaces.set(C, 9, 'to-r2');
    const line = eventJson(
      event({
        kind: 'syn',
        dir: 'egress',
        mss: 1360,
        outer: TCP_FLOW,
        state: {
          known: true,
          firstNs: 519_470_500_000n,
          lastNs: 519_474_794_000n,
          initiator: 'src',
          syn: { first: 8960, firstIfindex: 7, last: 1360, lastIfindex: 9 },
          synAck: null,
          largest: [0, 0],
          minMtu: 1500,
          minMtuIfindex: 9,
        },
      }),
      n,
    );
    expect(line.flow).toEqual({
      known: true,
      since: 1795391519470.5,
      initiator: 'src',
      syn: { first: 8960, firstIface: 'to-c', last: 1360, lastIface: 'to-r2' },
      largest: { fwd: 0, rev: 0 },
      minMtu: { mtu: 1500, iface: 'to-r2' },
    });
  });
});

describe('eventJson of a batch read lazily', () => {
  it('is the line of the same record decoded whole, byte for byte and key for key, on 5000 random records', () => {
    let seed = 11;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / 16777216;
    const n = 5000;
    const buf = Buffer.alloc(n * RECORD_SIZE);
    for (let i = 0; i < buf.length; i++) buf[i] = Math.floor(rand() * 256);
    const L = RECORD_LAYOUT;
    for (let r = 0; r < n; r++) {
      const o = r * RECORD_SIZE;
      buf[o + L.kind] = 1 + Math.floor(rand() * 6);
      for (const f of [L.outer, L.inner]) buf[o + f + 37] = [0, 4, 6, 5][Math.floor(rand() * 4)]!;
      // Names: empty, short, or all 16 bytes; namespaces the namers know, or not.
      for (const f of [L.ifname, L.mtuIfname]) {
        const len = [0, 4, 16][Math.floor(rand() * 3)]!;
        for (let k = 0; k < 16; k++) buf[o + f + k] = k < len ? 0x61 + Math.floor(rand() * 26) : 0;
      }
      if (rand() < 0.5) buf.writeUInt32LE([C, R1, HOST][Math.floor(rand() * 3)]!, o + L.netns);
      if (rand() < 0.5) buf.writeUInt32LE(buf.readUInt32LE(o + L.netns), o + L.mtuNetns);
      if (rand() < 0.5) buf.writeUInt32LE(buf.readUInt32LE(o + L.ifindex), o + L.mtuIfindex);
      if (rand() < 0.3) buf.writeUInt32LE(0, o + L.mtuIfindex);
      if (rand() < 0.3) buf.writeUInt32LE(0, o + L.mtu);
      buf.writeUInt32LE(Math.floor(rand() * 12), o + L.reason);
      buf[o + L.tsNs + 7]! &= 0x0f; // a plausible clock (the epoch arithmetic is exact there)
      if (rand() < 0.3) buf.fill(0, o + L.outer + 4, o + L.outer + 16); // IPv6 zero runs
    }
    const n1 = namers();
    const { events } = decodeBatch(buf);
    expect(events).toHaveLength(n);
    for (const ev of events) {
      const lazy = eventJson(ev, n1);
      const whole = eventJson(plainEvent(ev), n1);
      expect(Object.keys(lazy)).toEqual(Object.keys(whole));
      expect(JSON.stringify(lazy)).toBe(JSON.stringify(whole));
    }
  });
});
