// Parsers of the traffic drivers, on output recorded from iputils ping
// 20221126 and iperf 3.12 in a lab (routedPath, 9000/1500/9000).

import { describe, expect, it } from 'vitest';
import { LabError, type ExecResult, type NetLab } from '../../src/lab/netlab.js';
import { parseIperf, parsePing, pingDf, tcpTransfer, waitFor } from '../../src/lab/traffic.js';

const PTB_V4 = {
  code: 1,
  stdout: `PING 198.18.3.2 (198.18.3.2) 4000(4028) bytes of data.
From 198.18.1.1 icmp_seq=1 Frag needed and DF set (mtu = 1500)

--- 198.18.3.2 ping statistics ---
3 packets transmitted, 0 received, +3 errors, 100% packet loss, time 207ms

`,
  stderr: `ping: local error: message too long, mtu=1500
ping: local error: message too long, mtu=1500
`,
};

const PTB_V6 = {
  code: 1,
  stdout: `PING 2001:db8:3::2(2001:db8:3::2) 4000 data bytes
From 2001:db8:1::1 icmp_seq=1 Packet too big: mtu=1500

--- 2001:db8:3::2 ping statistics ---
3 packets transmitted, 0 received, +3 errors, 100% packet loss, time 206ms

`,
  stderr: `ping: local error: message too long, mtu: 1500
ping: local error: message too long, mtu: 1500
`,
};

// Only local errors: the PMTU was already cached before this run.
const LOCAL_ONLY = {
  code: 1,
  stdout: `PING 2001:db8:3::2(2001:db8:3::2) 4000 data bytes

--- 2001:db8:3::2 ping statistics ---
2 packets transmitted, 0 received, +2 errors, 100% packet loss, time 103ms

`,
  stderr: `ping: local error: message too long, mtu: 1500
ping: local error: message too long, mtu: 1500
`,
};

const BLACK_HOLE = {
  code: 1,
  stdout: `PING 198.18.3.2 (198.18.3.2) 4000(4028) bytes of data.

--- 198.18.3.2 ping statistics ---
3 packets transmitted, 0 received, 100% packet loss, time 207ms

`,
  stderr: '',
};

const OK = {
  code: 0,
  stdout: `PING 198.18.3.2 (198.18.3.2) 56(84) bytes of data.
64 bytes from 198.18.3.2: icmp_seq=1 ttl=62 time=0.123 ms
64 bytes from 198.18.3.2: icmp_seq=2 ttl=62 time=0.060 ms

--- 198.18.3.2 ping statistics ---
2 packets transmitted, 2 received, 0% packet loss, time 103ms
rtt min/avg/max/mdev = 0.060/0.091/0.123/0.031 ms
`,
  stderr: '',
};

describe('parsePing', () => {
  it('reads an IPv4 "Frag needed" and the MTU', () => {
    expect(parsePing(PTB_V4)).toMatchObject({ transmitted: 3, received: 0, errors: 3, fragNeeded: true, pmtu: 1500, code: 1 });
  });
  it('reads an ICMPv6 "Packet too big" and the MTU', () => {
    expect(parsePing(PTB_V6)).toMatchObject({ transmitted: 3, received: 0, errors: 3, fragNeeded: true, pmtu: 1500 });
  });
  it('reads the MTU of a local "message too long" without a PTB', () => {
    expect(parsePing(LOCAL_ONLY)).toMatchObject({ errors: 2, fragNeeded: false, pmtu: 1500 });
  });
  it('a black hole: nothing back, no error, no MTU', () => {
    const r = parsePing(BLACK_HOLE);
    expect(r).toMatchObject({ transmitted: 3, received: 0, errors: 0, fragNeeded: false });
    expect(r.pmtu).toBeUndefined();
  });
  it('a healthy run', () => {
    expect(parsePing(OK)).toMatchObject({ transmitted: 2, received: 2, errors: 0, fragNeeded: false, code: 0 });
  });
  it('no summary (killed): zero counts', () => {
    expect(parsePing({ code: null, stdout: 'PING 198.18.3.2 (198.18.3.2) 56(84) bytes of data.\n', stderr: '' })).toMatchObject({
      transmitted: 0,
      received: 0,
    });
  });
});

function exec(stdout: string, over: Partial<ExecResult> = {}): ExecResult {
  return { code: 0, signal: null, stdout, stderr: '', timedOut: false, ...over };
}

describe('parseIperf', () => {
  it('reads bytes and retransmissions', () => {
    const json = JSON.stringify({
      start: {},
      intervals: [],
      end: {
        sum_sent: { start: 0, end: 1.000266, seconds: 1.000266, bytes: 2248933376, retransmits: 913, sender: true },
        sum_received: { start: 0, end: 1.000302, seconds: 1.000302, bytes: 2248933376, sender: true },
      },
    });
    const r = parseIperf(exec(json));
    expect(r).toMatchObject({ bytesSent: 2248933376, bytesReceived: 2248933376, retransmits: 913, ok: true });
    expect(r.error).toBeUndefined();
  });
  it('iperf3 -J exits 0 on a refused connection: the JSON error decides', () => {
    const json = `{
	"start":	{ "connected":	[], "version":	"iperf 3.12" },
	"intervals":	[],
	"end":	{
	},
	"error":	"unable to connect to server: Connection refused"
}`;
    expect(parseIperf(exec(json))).toMatchObject({ ok: false, bytesSent: 0, bytesReceived: 0, error: 'unable to connect to server: Connection refused' });
  });
  it('killed without output', () => {
    expect(parseIperf(exec('', { code: null, signal: 'SIGKILL', timedOut: true }))).toMatchObject({ ok: false, error: 'timed out (killed)' });
  });
});

describe('argument bounds (checked before anything runs)', () => {
  const lab = {} as NetLab; // never reached
  it('pingDf', async () => {
    await expect(pingDf(lab, 'x', '198.18.3.2', { size: 56, count: 0 })).rejects.toBeInstanceOf(LabError);
    await expect(pingDf(lab, 'x', '198.18.3.2', { size: 56, count: 5000 })).rejects.toBeInstanceOf(LabError);
    await expect(pingDf(lab, 'x', '198.18.3.2', { size: 56, deadlineS: 120 })).rejects.toBeInstanceOf(LabError);
    // 10 requests 1 s apart cannot fit a 5 s deadline.
    await expect(pingDf(lab, 'x', '198.18.3.2', { size: 56, count: 10, intervalS: 1, deadlineS: 5 })).rejects.toThrow(/deadline/);
    await expect(pingDf(lab, 'x', '198.18.3.2', { size: 70000 })).rejects.toBeInstanceOf(LabError);
  });
  it('tcpTransfer lasts 1 to 5 seconds', async () => {
    const o = { serverNs: 's', clientNs: 'c', serverAddr: '198.18.3.2' };
    await expect(tcpTransfer(lab, { ...o, seconds: 6 })).rejects.toBeInstanceOf(LabError);
    await expect(tcpTransfer(lab, { ...o, seconds: 0 })).rejects.toBeInstanceOf(LabError);
  });
});

describe('waitFor', () => {
  it('returns the first truthy value', async () => {
    let n = 0;
    expect(await waitFor(() => (++n >= 3 ? `after ${n}` : undefined), 1000, 1)).toBe('after 3');
  });
  it('times out with a LabError', async () => {
    await expect(waitFor(() => false, 30, 5)).rejects.toThrow(/within 30 ms/);
  });
  it('lets the predicate fail fast', async () => {
    await expect(
      waitFor(() => {
        throw new Error('gone');
      }, 1000),
    ).rejects.toThrow('gone');
  });
});
