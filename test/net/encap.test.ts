// The one table of header and tunnel overheads that correlate and audit share.

import { describe, expect, it } from 'vitest';

import { encapOverhead, ENCAP_NAMES, mssFor, mssThrough, segmentOnWire, tunnelCost, udpTunnel, UDP_TUNNEL_PORTS } from '../../src/net/encap.js';
import { ENCAP_TYPE_NAMES } from '../../src/contract/event.js';

describe('tunnel overheads', () => {
  it('gives each tunnel its bytes before the inner IP header, as the tc program measures them', () => {
    expect(encapOverhead('ipip')).toBe(20);
    expect(encapOverhead('sit')).toBe(20);
    expect(encapOverhead('ip6ip6')).toBe(40);
    expect(encapOverhead('ip4ip6')).toBe(40);
    expect(encapOverhead('gre', 4)).toBe(24);
    expect(encapOverhead('gre', 4, 12)).toBe(36); // checksum, key and sequence number
    expect(encapOverhead('gretap', 6, 4)).toBe(40 + 4 + 4 + 14);
    expect(encapOverhead('vxlan', 4)).toBe(50);
    expect(encapOverhead('vxlan', 6)).toBe(70);
    expect(encapOverhead('geneve', 6, 8)).toBe(40 + 8 + 8 + 8 + 14);
    for (const t of ENCAP_TYPE_NAMES) expect(ENCAP_NAMES[t]).toBeTruthy();
  });

  it("does seed 004's arithmetic: MSS 1460 in 20 bytes of IPIP needs 1520; 1440 fits 1500 (1400 over IP6IP6 for IPv6 inside)", () => {
    expect(segmentOnWire(1460, 4, encapOverhead('ipip'))).toBe(1520);
    expect(mssThrough(1500, 4, encapOverhead('ipip'))).toBe(1440);
    expect(segmentOnWire(1420, 6, encapOverhead('ipip'))).toBe(1500); // IPv6 clients over an IPv4 tunnel
    expect(mssThrough(1500, 6, encapOverhead('ip6ip6'))).toBe(1400);
    expect(mssFor(1500, 4)).toBe(1460);
    expect(mssFor(9000, 6)).toBe(8940);
  });

  it('knows VXLAN and Geneve by their UDP ports, either way round', () => {
    expect(udpTunnel(50000, 4789)).toBe('vxlan');
    expect(udpTunnel(8472, 40000)).toBe('vxlan');
    expect(udpTunnel(1, 6081)).toBe('geneve');
    expect(udpTunnel(53, 443)).toBeUndefined();
    expect(Object.keys(UDP_TUNNEL_PORTS).map(Number).sort()).toEqual([4789, 6081, 8472]);
  });

  it("prices tunnel devices (audit) with the same table: a device's options and its underlay's family", () => {
    const t = (kind: string, tunnel?: { remote?: string; greOutputFlags?: number; encapLimit?: number; flags?: number }) =>
      tunnelCost({ kind, tunnel: tunnel ? { remote: tunnel.remote ?? '', local: '', greOutputFlags: tunnel.greOutputFlags ?? 0, encapLimit: tunnel.encapLimit ?? 0, flags: tunnel.flags ?? 0 } : undefined })?.overhead;
    expect(t('vxlan', { remote: '198.18.0.2' })).toBe(50);
    expect(t('vxlan', { remote: '2001:db8::2' })).toBe(70);
    expect(t('ipip')).toBe(20);
    expect(t('ip6tnl', { encapLimit: 4 })).toBe(48);
    expect(t('gre', { greOutputFlags: 0x2000 })).toBe(28);
    expect(t('wireguard')).toBe(60);
    expect(t('veth')).toBeUndefined();
  });
});
