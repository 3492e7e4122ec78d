// Bounded traffic drivers for labs: every one has a count and a deadline, and
// a hard kill timeout above that. They only ever address what the caller
// passes, which in a lab is an address inside the lab's namespaces.

import { LabError, type ExecResult, type NetLab } from './netlab.js';

export interface PingOptions {
  /** ICMP payload size (-s). The IP packet is size + 28 (IPv4) or + 48 (IPv6). */
  size: number;
  /** Echo requests to send, exactly (-c). Default 3, at most 1000. */
  count?: number;
  /** Seconds between requests (-i). Default 0.2. */
  intervalS?: number;
  /**
   * Bound on ping's whole run, in seconds (at most 60): ping sends `count`
   * requests, then waits for missing replies until the deadline (-W). Not
   * ping's -w, which would keep sending until `count` replies arrive.
   * Default (count - 1) * interval + 2.
   */
  deadlineS?: number;
  /** Force IPv6 (-6); otherwise taken from the address. */
  ipv6?: boolean;
}

export interface PingResult {
  transmitted: number;
  received: number;
  /** "+N errors" in ping's summary (ICMP errors such as Frag needed, or local EMSGSIZE). */
  errors: number;
  /** A "Frag needed" / "Packet too big" was reported by a router. */
  fragNeeded: boolean;
  /** The path MTU ping reported (from the ICMP error or a local "message too long"), if any. */
  pmtu?: number;
  /** ping's exit status (0: some reply; 1: none; 2: other error). */
  code: number | null;
  output: string;
}

/** `ping -M do` (never fragment) from `ns` to `dst`, bounded by count and deadline. */
export async function pingDf(lab: NetLab, ns: string, dst: string, opts: PingOptions): Promise<PingResult> {
  const count = opts.count ?? 3;
  const interval = opts.intervalS ?? 0.2;
  if (!Number.isInteger(count) || count < 1 || count > 1000) throw new LabError(`ping count ${count} out of 1..1000`);
  if (!(interval >= 0.002 && interval <= 10)) throw new LabError(`ping interval ${interval}s out of [0.002, 10]`);
  const sending = (count - 1) * interval;
  const deadline = opts.deadlineS ?? sending + 2;
  if (!(deadline > sending && deadline <= 60)) {
    throw new LabError(`ping deadline ${deadline}s out of (${sending}, 60]`, 'the deadline must leave time to send every request');
  }
  // Time to wait for replies after the last request (ping's "linger").
  const linger = Math.max(0.1, Math.round((deadline - sending) * 1000) / 1000);
  if (!Number.isInteger(opts.size) || opts.size < 0 || opts.size > 65507) throw new LabError(`ping size ${opts.size}`);
  const v6 = opts.ipv6 ?? dst.includes(':');
  const argv = [
    'ping',
    v6 ? '-6' : '-4',
    '-n',
    '-M',
    'do',
    '-s',
    String(opts.size),
    '-c',
    String(count),
    '-i',
    String(interval),
    '-W',
    String(linger),
    dst,
  ];
  const r = await lab.exec(ns, argv, { timeoutMs: (deadline + 5) * 1000 });
  return parsePing(r);
}

/** Parse ping's (iputils) output. Exported for unit tests. */
export function parsePing(r: Pick<ExecResult, 'code' | 'stdout' | 'stderr'>): PingResult {
  const output = r.stdout + r.stderr;
  const sum = /(\d+) packets transmitted, (\d+) (?:packets )?received(?:, \+(\d+) errors)?/.exec(output);
  // "Frag needed and DF set (mtu = 1500)", "Packet too big: mtu=1500",
  // "local error: message too long, mtu: 1500"
  const mtu = /\bmtu ?[=:] ?(\d+)/.exec(output);
  const res: PingResult = {
    transmitted: sum ? Number(sum[1]) : 0,
    received: sum ? Number(sum[2]) : 0,
    errors: sum?.[3] ? Number(sum[3]) : 0,
    fragNeeded: /Frag needed|Packet too big/i.test(output),
    code: r.code,
    output,
  };
  if (mtu) res.pmtu = Number(mtu[1]);
  return res;
}

export interface TcpTransferOptions {
  serverNs: string;
  clientNs: string;
  /** Address the client connects to (an address of serverNs). */
  serverAddr: string;
  /** Transfer duration, 1..5 seconds. */
  seconds: number;
  /** Server sends, client receives (iperf3 -R). */
  reverse?: boolean;
  /** Default 5201. */
  port?: number;
  /** Control connection setup timeout. Default 3000 ms. */
  connectTimeoutMs?: number;
}

export interface TcpTransferResult {
  /** Bytes the sender sent / the receiver received, from iperf3's JSON. 0 when unknown. */
  bytesSent: number;
  bytesReceived: number;
  /** Sender's retransmissions. */
  retransmits: number;
  /** iperf3 finished and reported no error. */
  ok: boolean;
  /** iperf3's error, or why it was stopped. */
  error?: string;
  /** The client's raw result. */
  client: ExecResult;
}

/**
 * An iperf3 TCP transfer between two namespaces: a one-off server (`-s -1`),
 * waited for until it listens, and a client with `-t`, `--connect-timeout`
 * and a hard kill timeout. Both are gone when this returns.
 */
export async function tcpTransfer(lab: NetLab, opts: TcpTransferOptions): Promise<TcpTransferResult> {
  const seconds = opts.seconds;
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 5) throw new LabError(`transfer seconds ${seconds} out of 1..5`);
  const port = opts.port ?? 5201;
  const connectTimeout = opts.connectTimeoutMs ?? 3000;
  // The server quits on its own if no test arrives (--idle-timeout) or data stops (--rcv-timeout).
  const server = lab.spawn(opts.serverNs, [
    'iperf3',
    '-s',
    '-1',
    '-p',
    String(port),
    '--idle-timeout',
    String(seconds + 10),
    '--rcv-timeout',
    String((seconds + 5) * 1000),
  ]);
  let ex: ExecResult | undefined;
  void server.exited.then((r) => (ex = r));
  try {
    await waitFor(async () => {
      if (ex) throw new LabError(`iperf3 server exited early: ${ex.stderr.trim() || ex.stdout.trim()}`);
      return listening(lab, opts.serverNs, port);
    }, 5000);
    const argv = [
      'iperf3',
      '-c',
      opts.serverAddr,
      '-p',
      String(port),
      '-t',
      String(seconds),
      '-J',
      '--connect-timeout',
      String(connectTimeout),
      ...(opts.reverse ? ['-R'] : []),
    ];
    // iperf3 prints its JSON on SIGTERM too, so a stalled run still reports.
    const client = await lab.exec(opts.clientNs, argv, { timeoutMs: (seconds + 8) * 1000 + connectTimeout });
    return parseIperf(client);
  } finally {
    await server.stop();
  }
}

async function listening(lab: NetLab, ns: string, port: number): Promise<boolean> {
  const r = await lab.exec(ns, ['ss', '-Hltn', `sport = :${port}`], { timeoutMs: 3000 });
  return r.code === 0 && r.stdout.trim() !== '';
}

interface IperfJson {
  error?: string;
  end?: {
    sum_sent?: { bytes?: number; retransmits?: number };
    sum_received?: { bytes?: number };
  };
}

/** Parse an iperf3 -J client result. Exported for unit tests. */
export function parseIperf(client: ExecResult): TcpTransferResult {
  let j: IperfJson | undefined;
  try {
    j = JSON.parse(client.stdout) as IperfJson;
  } catch {
    j = undefined;
  }
  const res: TcpTransferResult = {
    bytesSent: j?.end?.sum_sent?.bytes ?? 0,
    bytesReceived: j?.end?.sum_received?.bytes ?? 0,
    retransmits: j?.end?.sum_sent?.retransmits ?? 0,
    ok: client.code === 0 && !client.timedOut && !j?.error,
    client,
  };
  const error = j?.error ?? (client.timedOut ? 'timed out (killed)' : client.code !== 0 ? client.stderr.trim() || `exit ${client.code}` : undefined);
  if (error) res.error = client.timedOut && j?.error ? `timed out (killed): ${j.error}` : error;
  return res;
}

/**
 * Poll `predicate` (every `intervalMs`, default 50) until it returns a truthy
 * value, which is returned. Throws a LabError after `timeoutMs`; errors thrown
 * by the predicate propagate at once.
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  timeoutMs: number,
  intervalMs = 50,
): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await predicate();
    if (v) return v as NonNullable<T>;
    if (Date.now() >= end) throw new LabError(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A SYN or SYN-ACK as tcpdump printed it, with the MSS option it carried. */
export interface SynSeen {
  src: string;
  sport: number;
  dst: string;
  dport: number;
  synAck: boolean;
  /** The MSS option, or null when the segment had none. */
  mss: number | null;
}

/**
 * The SYNs and SYN-ACKs that cross `ifname` in `ns` while `fn` runs (at most
 * `max`, default 4: iperf3 opens two connections), from a bounded tcpdump.
 * Their MSS is what arrived there, after any clamping on the way.
 */
export async function captureSyns<T>(lab: NetLab, ns: string, ifname: string, fn: () => Promise<T>, max = 4): Promise<{ result: T; syns: SynSeen[] }> {
  if (!Number.isInteger(max) || max < 1 || max > 100) throw new LabError(`SYN capture count ${max} out of 1..100`);
  // tcp[] offsets are IPv4-only in pcap filters; ip6[53] is the TCP flags byte after a bare IPv6 header.
  const filter = '(tcp[tcpflags] & tcp-syn != 0) or (ip6 and ip6[6] == 6 and ip6[53] & 2 != 0)';
  const dump = lab.spawn(ns, ['timeout', '20', 'tcpdump', '-lnn', '-i', ifname, '-c', String(max), filter]);
  let gone = false;
  void dump.exited.then(() => (gone = true));
  try {
    await waitFor(() => {
      if (gone) throw new LabError(`tcpdump exited early: ${dump.output().stderr.trim()}`);
      return dump.output().stderr.includes('listening on');
    }, 5000);
    const result = await fn();
    // The last SYN-ACK may still be on its way to tcpdump's buffer.
    await Promise.race([dump.exited, new Promise((r) => setTimeout(r, 300))]);
    return { result, syns: parseSyns(dump.output().stdout) };
  } finally {
    await dump.stop();
  }
}

/** Parse tcpdump -nn lines of SYNs and SYN-ACKs (IPv4 and IPv6). Exported for unit tests. */
export function parseSyns(text: string): SynSeen[] {
  const out: SynSeen[] = [];
  for (const line of text.split('\n')) {
    const m = /\bIP6? (\S+)\.(\d+) > (\S+)\.(\d+): Flags \[(S\.?)\]/.exec(line);
    if (!m) continue;
    const mss = /\bmss (\d+)/.exec(line);
    out.push({ src: m[1]!, sport: Number(m[2]), dst: m[3]!, dport: Number(m[4]), synAck: m[5] === 'S.', mss: mss ? Number(mss[1]) : null });
  }
  return out;
}

/** A tcpdump writing a pcap file in a namespace, until stopped. */
export interface PacketRecording {
  file: string;
  stop(): Promise<void>;
}

/**
 * Records what crosses `ifname` in `ns` to `file` with tcpdump (pcap, the
 * first 256 bytes of each packet, written as they come: --immediate-mode,
 * or a stop within a second of the last packet would lose it). Bounded: it
 * ends by itself after `maxSeconds`.
 */
export async function recordPackets(lab: NetLab, ns: string, ifname: string, file: string, maxSeconds = 120): Promise<PacketRecording> {
  const dump = lab.spawn(ns, ['timeout', String(maxSeconds), 'tcpdump', '--immediate-mode', '-U', '-nn', '-s', '256', '-i', ifname, '-w', file]);
  let gone = false;
  void dump.exited.then(() => (gone = true));
  try {
    await waitFor(() => {
      if (gone) throw new LabError(`tcpdump on ${ifname} exited early: ${dump.output().stderr.trim()}`);
      return dump.output().stderr.includes('listening on');
    }, 5000);
  } catch (e) {
    await dump.stop();
    throw e;
  }
  return {
    file,
    async stop() {
      await dump.stop();
    },
  };
}
