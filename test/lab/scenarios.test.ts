import { describe, expect, it } from 'vitest';

import { SCENARIOS, describeStep, expectedText, isCutOff, meetsCutOff, meetsExpected, scenario, type DriveStep, type ExpectedCutOff, type LinkLike, type VerdictLike } from '../../src/lab/scenarios.js';

describe('scenario registry', () => {
  it('has the scenarios of SCENARIOS.md, numbered 1 to 12, with unique kebab-case names', () => {
    expect(SCENARIOS.map((s) => s.number)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(SCENARIOS.map((s) => s.name)).toEqual([
      'healthy',
      'router-bottleneck',
      'rp-filter',
      'firewall',
      'silent-blackhole',
      'bridge-port',
      'nested-containers',
      'overlay',
      'ipv6',
      'mss-clamp',
      'bridge-restart',
      'decap-rp-filter',
    ]);
    for (const s of SCENARIOS) {
      expect(s.name).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
      expect(s.title.length).toBeGreaterThan(5);
      expect(s.description.length).toBeGreaterThan(40);
      expect(typeof s.build).toBe('function');
      expect(typeof s.traffic).toBe('function');
      expect(typeof s.drive).toBe('function');
    }
  });

  it('finds a scenario by name or number', () => {
    expect(scenario('rp-filter')?.number).toBe(3);
    expect(scenario('8')?.name).toBe('overlay');
    expect(scenario('nope')).toBeUndefined();
    expect(scenario('0')).toBeUndefined();
  });

  it('expects something of every scenario: a verdict with its place, guest ports cut off, or nothing but ok', () => {
    for (const s of SCENARIOS) {
      if (s.expected === 'all-ok') continue;
      if (isCutOff(s.expected)) {
        expect(s.expected.cutOff.ifaces.length, s.name).toBeGreaterThan(0);
        continue;
      }
      expect(s.expected.verdict).toMatch(/^(ok|ptb-honored|ptb-dropped|local-bottleneck|silent-blackhole|mss-exceeds-path|ptb-not-honored)$/);
      if (s.expected.verdict === 'ok') continue;
      expect(s.expected.where, s.name).toBeDefined();
      expect(s.expected.where!.role).toMatch(/^[a-z0-9]+$/);
      expect(s.expected.where!.iface).toMatch(/^[A-Za-z0-9_-]{1,15}$/);
      // A tunnel's rp_filter drops every packet, whatever its size: no MTU to it.
      if (s.expected.cause !== 'rp_filter' || s.expected.verdict !== 'silent-blackhole') expect(s.expected.mtu, s.name).toBeGreaterThanOrEqual(1280);
    }
    expect(scenario('healthy')!.expected).toBe('all-ok');
  });

  it('puts the rp_filter on the server, as SCENARIOS.md tells it', () => {
    expect(scenario('rp-filter')!.expected).toMatchObject({ verdict: 'ptb-dropped', cause: 'rp_filter', where: { role: 's', iface: 'to-r2', hop: '198.19.0.1' }, mtu: 1500 });
  });
});

describe('describeStep', () => {
  const ping = { kind: 'ping', from: 'c', to: '198.18.3.2', size: 4000, transmitted: 2, received: 0, errors: 0, fragNeeded: false } as const;

  it('tells a black hole from a PTB and from an MTU learned earlier', () => {
    expect(describeStep(ping)).toBe('ping -M do -s 4000 c -> 198.18.3.2: 0/2 replies, and no error at all (black hole)');
    expect(describeStep({ ...ping, errors: 2, fragNeeded: true, pmtu: 1500 })).toBe('ping -M do -s 4000 c -> 198.18.3.2: 0/2 replies, "too big" from a router, mtu 1500');
    expect(describeStep({ ...ping, errors: 2, pmtu: 1500 })).toBe('ping -M do -s 4000 c -> 198.18.3.2: 0/2 replies, local "message too long", mtu 1500 (learned earlier)');
    expect(describeStep({ ...ping, received: 2 })).toBe('ping -M do -s 4000 c -> 198.18.3.2: 2/2 replies');
  });

  it('gives TCP volumes in readable units, and says when TLS stalled', () => {
    const tcp: DriveStep = { kind: 'tcp', sender: 'p1', receiver: 'p2', to: '198.18.53.2', seconds: 2, bytesSent: 79640, bytesReceived: 0, retransmits: 3, ok: true };
    expect(describeStep(tcp)).toBe('TCP p1 -> p2 (iperf3 2 s): 79.6 kB sent, 0 B received, 3 retransmissions');
    expect(describeStep({ ...tcp, bytesSent: 2_100_000_000, bytesReceived: 5_400_000 })).toContain('2.1 GB sent, 5.4 MB received');
    const tls: DriveStep = { kind: 'tls', server: 's', client: 'c', to: '198.18.3.2', maxSeconds: 3, curlExit: 28, httpCode: null, ms: 3004, stalled: true, certs: 5, pemBytes: 5700 };
    expect(describeStep(tls)).toBe('TLS s -> c (curl -k against openssl s_server, 5 certificates, 5.7 kB of PEM): stalled, curl gave up after 3 s');
    expect(describeStep({ ...tls, curlExit: 0, httpCode: 200, ms: 14, stalled: false })).toMatch(/: HTTP 200 in 14 ms$/);
  });

  it('lists the SYNs it saw with their MSS', () => {
    expect(
      describeStep({
        kind: 'syn',
        at: 's/to-r2',
        syns: [
          { src: '198.18.1.2', sport: 1, dst: '198.18.3.2', dport: 5201, synAck: false, mss: 1460 },
          { src: '198.18.3.2', sport: 5201, dst: '198.18.1.2', dport: 1, synAck: true, mss: 8960 },
        ],
      }),
    ).toBe('SYNs at s/to-r2: SYN 198.18.1.2 mss 1460, SYN-ACK 198.18.3.2 mss 8960');
  });
});

describe('expectations', () => {
  const ns = { c: 'pmtu-lab-1-aaaaaa-c', s: 'pmtu-lab-1-aaaaaa-s', r2: 'pmtu-lab-1-aaaaaa-r2' };
  const dropped: VerdictLike = {
    verdict: 'ptb-dropped',
    cause: 'rp_filter',
    flow: { proto: 'tcp' },
    where: { netns: ns.s, iface: 'to-r2', hop: '198.19.0.1' },
    mtu: 1500,
    notes: [],
  };
  const ok: VerdictLike = { verdict: 'ok', cause: null, flow: { proto: 'tcp' }, where: { netns: null, iface: null, hop: null }, mtu: null, notes: ['MSS rewritten on the path: sent 8960, received 1460'] };

  it('reads as a person would say it', () => {
    expect(expectedText(scenario('rp-filter')!.expected)).toBe('ptb-dropped (rp_filter) at s/to-r2 hop 198.19.0.1, mtu 1500, for a tcp flow');
    expect(expectedText('all-ok')).toBe('every flow ok');
    expect(expectedText(scenario('mss-clamp')!.expected)).toBe('ok, for a tcp flow, noting "MSS rewritten on the path"');
  });

  it('finds the verdict that matches, place resolved through the roles', () => {
    const e = scenario('rp-filter')!.expected;
    expect(meetsExpected([ok, dropped], e, ns)).toEqual({ ok: true, match: dropped });
    expect(meetsExpected([{ ...dropped, where: { ...dropped.where, netns: ns.c } }], e, ns).ok).toBe(false);
    expect(meetsExpected([{ ...dropped, flow: { proto: 'icmp' } }], e, ns).ok).toBe(false);
    expect(meetsExpected([{ ...dropped, mtu: 1450 }], e, ns).ok).toBe(false);
    expect(meetsExpected([{ ...dropped, cause: 'firewall' }], e, ns).ok).toBe(false);
    expect(meetsExpected([{ ...dropped, where: { ...dropped.where, hop: '198.18.3.1' } }], e, ns).ok).toBe(false);
    expect(meetsExpected([ok], scenario('mss-clamp')!.expected, ns)).toEqual({ ok: true, match: ok });
  });

  it("bridge restart: every port's link event and its cut-off warning, or it says which are missing", () => {
    const e = scenario('bridge-restart')!.expected as ExpectedCutOff;
    const hv = 'lab-hv';
    const left = (iface: string): LinkLike => ({ netns: hv, iface, changes: ['master'], master: '', was: { master: 'vmbr0' } });
    const warned = (iface: string) => `guest port ${iface} in ${hv} left vmbr0: its guest is cut off (its frames go nowhere). Put it back: ...`;
    const ports = e.cutOff.ifaces;
    expect(meetsCutOff(ports.map(left), ports.map(warned), e, { hv })).toEqual({ ok: true, missing: [] });
    expect(meetsCutOff(ports.map(left), ports.slice(1).map(warned), e, { hv })).toEqual({ ok: false, missing: [ports[0]] });
    expect(meetsCutOff([...ports.slice(1).map(left), { ...left(ports[0]!), master: 'vmbr0' }], ports.map(warned), e, { hv }).missing).toEqual([ports[0]]);
    expect(meetsCutOff(ports.map(left), ports.map(warned), e, { hv: 'elsewhere' }).ok).toBe(false);
    expect(expectedText(e)).toBe('tap100i0, veth101i0, veth102i0 at hv left vmbr0, each guest cut off');
    expect(meetsExpected([ok], e, {}).ok).toBe(false);
  });

  it('healthy: at least one flow, and every flow ok', () => {
    expect(meetsExpected([ok, ok], 'all-ok', ns).ok).toBe(true);
    expect(meetsExpected([], 'all-ok', ns).ok).toBe(false);
    expect(meetsExpected([ok, dropped], 'all-ok', ns).ok).toBe(false);
  });
});
