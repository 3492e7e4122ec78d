// parseSyns on tcpdump 4.99 output recorded in a lab (routedPath with r1
// clamping MSS; captured on s's interface).

import { describe, expect, it } from 'vitest';

import { parseSyns } from '../../src/lab/traffic.js';

const V4 = `00:48:59.101 IP 198.18.1.2.43210 > 198.18.3.2.5201: Flags [S], seq 1, win 64240, options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0
00:48:59.102 IP 198.18.3.2.5201 > 198.18.1.2.43210: Flags [S.], seq 2, ack 2, win 62636, options [mss 8960,sackOK,TS val 2 ecr 1,nop,wscale 10], length 0
`;

const V6 = `00:49:43.039195 IP6 2001:db8:1::2.49740 > 2001:db8:3::2.5201: Flags [S], seq 892738953, win 62580, options [mss 1440,sackOK,TS val 568740749 ecr 0,nop,wscale 10], length 0
00:49:43.039218 IP6 2001:db8:3::2.5201 > 2001:db8:1::2.49740: Flags [S.], seq 387120662, ack 892738954, win 62496, options [mss 8940,sackOK,TS val 1761607949 ecr 568740749,nop,wscale 10], length 0
`;

describe('parseSyns', () => {
  it('reads SYN and SYN-ACK, addresses, ports and MSS (IPv4)', () => {
    expect(parseSyns(V4)).toEqual([
      { src: '198.18.1.2', sport: 43210, dst: '198.18.3.2', dport: 5201, synAck: false, mss: 1460 },
      { src: '198.18.3.2', sport: 5201, dst: '198.18.1.2', dport: 43210, synAck: true, mss: 8960 },
    ]);
  });

  it('reads IPv6 addresses, whose last group is followed by the port', () => {
    expect(parseSyns(V6)).toEqual([
      { src: '2001:db8:1::2', sport: 49740, dst: '2001:db8:3::2', dport: 5201, synAck: false, mss: 1440 },
      { src: '2001:db8:3::2', sport: 5201, dst: '2001:db8:1::2', dport: 49740, synAck: true, mss: 8940 },
    ]);
  });

  it('ignores other lines, and gives null for a SYN without an MSS option', () => {
    const text = `${V4.split('\n')[0]!.replace(/mss 1460,/, '')}
00:00:00.1 IP6 fe80::1 > ff02::1:ff00:2: ICMP6, neighbor solicitation, who has 2001:db8:3::2, length 32
00:00:00.2 IP 198.18.1.2.43210 > 198.18.3.2.5201: Flags [.], ack 1, win 502, length 0
`;
    expect(parseSyns(text)).toEqual([{ src: '198.18.1.2', sport: 43210, dst: '198.18.3.2', dport: 5201, synAck: false, mss: null }]);
    expect(parseSyns('')).toEqual([]);
  });
});
