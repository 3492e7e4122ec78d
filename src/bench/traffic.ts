// 3. What watching costs the traffic: iperf3 through a veth pair between two
// namespaces of a NetLab, with nothing attached and with each watcher, in
// rounds (the order turning each round so drift hits every one alike).
// Throughput is compared with the same round's bare run; the median counts.

import { withLab, type NetLab, type Spawned } from '../lab/netlab.js';
import { tcpTransfer, waitFor } from '../lab/traffic.js';
import { loadAddon } from '../observer/addon.js';
import { openObserver } from '../observer/index.js';
import { Session } from '../session.js';
import { KernelSource } from '../sources/kernel.js';
import { BpfStats, processProgIds, progRunDelta, progRuns, type ProgRun } from './busy-lab.js';
import { median, notAvailable, type Figure, type Section } from './report.js';
import { retryBusy } from './util.js';

const SECONDS = 2;
/** Longer than timeout's -k: the watcher is gone before the lab would SIGKILL timeout itself. */
const STOP_GRACE_MS = 4000;
const ROUNDS = 3;
/** Target (issue #6). */
const MIN_SHARE = 0.98;

const ADDR_A = '198.18.0.1';
const ADDR_B = '198.18.0.2';

/** What pmtu-watch reports from a tc hook, as a pcap filter: frag-needed, Packet Too Big, SYNs. */
const EVENTS_FILTER =
  '(icmp[icmptype] == icmp-unreach and icmp[icmpcode] == 4) or (icmp6 and ip6[40] == 2) or ' +
  '(tcp[tcpflags] & tcp-syn != 0) or (ip6 and ip6[6] == 6 and ip6[53] & 2 != 0)';
/**
 * Plus what its largest-DF-size signal has to look at: tcpdump keeps no
 * per-flow state, so it must take every DF packet from 1280 bytes on (the
 * length counts the 14-byte Ethernet header).
 */
const SIZE_FILTER = `${EVENTS_FILTER} or (ip[6] & 0x40 != 0 and greater 1294) or (ip6 and greater 1294)`;

/**
 * drops.bpf.c's question in bpftrace: a dropped IP packet that is too big
 * (PKT_TOO_BIG, or longer than its device's MTU) or an ICMP error. The
 * tracepoint's protocol is in network order. It says "ready" once its probes
 * are attached (they are attached in order, the interval last), and ends
 * itself after a minute whatever happens to the bench.
 */
function bpftraceScript(pktTooBig: number): string {
  return `tracepoint:skb:kfree_skb
/args->protocol == 0x0008 || args->protocol == 0xdd86/
{
  $skb = (struct sk_buff *)args->skbaddr;
  $mtu = $skb->dev != 0 ? $skb->dev->mtu : (uint32)0;
  $l4 = *(uint8 *)($skb->head + $skb->network_header + (args->protocol == 0x0008 ? 9 : 6));
  if (args->reason == ${pktTooBig} || ($mtu != 0 && $skb->len > $mtu) || $l4 == 1 || $l4 == 58) {
    printf("drop reason %d proto %x len %d mtu %d l4 %d\\n", args->reason, args->protocol, $skb->len, $mtu, $l4);
  }
}
interval:ms:100 /@ready == 0/ { @ready = 1; printf("ready\\n"); }
interval:s:60 { exit(); }`;
}

interface Watcher {
  id: string;
  label: string;
  peer: boolean;
  /** Starts watching; resolves once it watches, to the function that stops it. */
  start(lab: NetLab, a: string, b: string): Promise<() => Promise<void>>;
}

async function spawnReady(
  lab: NetLab,
  ns: string,
  name: string,
  argv: string[],
  ready: (out: { stdout: string; stderr: string }) => boolean,
): Promise<Spawned> {
  // Stopping sends SIGTERM to timeout, which passes it on and kills what is
  // still there a second later: nothing outlives it holding our pipes.
  const p = lab.spawn(ns, ['timeout', '-k', '1', '60', ...argv]);
  let exited = false;
  void p.exited.then(() => (exited = true));
  try {
    await waitFor(() => {
      if (exited) throw new Error(`${name} exited: ${p.output().stderr.trim().split('\n').at(-1) ?? ''}`);
      return ready(p.output());
    }, 15_000);
  } catch (e) {
    await p.stop(STOP_GRACE_MS);
    throw e;
  }
  return p;
}

function tcpdump(id: string, label: string, filter: string): Watcher {
  return {
    id,
    label,
    peer: true,
    async start(lab, a, b) {
      const argv = (iface: string) => ['tcpdump', '-i', iface, '-nn', '-s', '128', '-w', '/dev/null', filter];
      const listening = (o: { stderr: string }) => o.stderr.includes('listening on');
      const dumps: Spawned[] = [];
      try {
        dumps.push(await spawnReady(lab, a, 'tcpdump', argv('va'), listening));
        dumps.push(await spawnReady(lab, b, 'tcpdump', argv('vb'), listening));
      } catch (e) {
        await Promise.all(dumps.map((d) => d.stop(STOP_GRACE_MS)));
        throw e;
      }
      return async () => {
        await Promise.all(dumps.map((d) => d.stop(STOP_GRACE_MS)));
      };
    },
  };
}

const WATCHERS: Watcher[] = [
  { id: 'bare', label: 'nothing attached', peer: true, start: async () => async () => {} },
  {
    id: 'pmtu',
    label: 'pmtu-watch (tc on both ends, tracepoints)',
    peer: false,
    async start(_lab, a, b) {
      // What `live --netns A --netns B` runs: the observer and a session into the correlator.
      const observer = await retryBusy(() => openObserver({ netns: [a, b], noSignalHandlers: true, rescanMs: 0 }));
      const session = new Session(new KernelSource(observer), {});
      return async () => session.close();
    },
  },
  tcpdump('tcpdump', 'tcpdump, PTB + SYN filter, both ends', EVENTS_FILTER),
  tcpdump('tcpdump_size', 'tcpdump, + DF >= 1280 B, snaplen 128', SIZE_FILTER),
  {
    id: 'bpftrace',
    label: 'bpftrace, kfree_skb script',
    peer: true,
    async start(lab, a) {
      const reason = loadAddon().dropReasonNames().indexOf('PKT_TOO_BIG');
      // Tracepoints are the kernel's, whatever namespace it runs in. bpftrace
      // needs tracefs: mounted in a mount namespace of its own, the host's
      // mounts stay as they are.
      const p = await spawnReady(
        lab,
        a,
        'bpftrace',
        ['unshare', '-m', 'sh', '-c', 'mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing; exec bpftrace -e "$0"', bpftraceScript(reason)],
        (o) => o.stdout.includes('ready'),
      );
      return async () => {
        await p.stop(STOP_GRACE_MS);
      };
    },
  },
];

/** What pmtu-watch's BPF programs cost on one more transfer, timed by the kernel (bpf_stats). */
interface KernelTime {
  run: ProgRun;
  seconds: number;
  bits: number;
}

/**
 * One more transfer watched by pmtu-watch with kernel.bpf_stats_enabled=1,
 * apart from the compared rounds (its clock reads slow the traffic): the
 * kernel's own account of what its programs took, which the neighbours'
 * load does not move as it moves throughput.
 */
async function kernelTime(lab: NetLab, a: string, b: string): Promise<KernelTime> {
  const stats = new BpfStats();
  const pmtu = WATCHERS.find((w) => w.id === 'pmtu')!;
  const stop = await pmtu.start(lab, a, b);
  try {
    const ids = processProgIds(process.pid);
    if (!ids.length) throw new Error('no BPF program of its own found');
    stats.set(true);
    const before = await progRuns(ids);
    const r = await tcpTransfer(lab, { serverNs: b, clientNs: a, serverAddr: ADDR_B, seconds: SECONDS });
    const after = await progRuns(ids);
    stats.set(false);
    if (!r.ok || r.bytesReceived === 0) throw new Error(`iperf3: ${r.error ?? 'nothing received'}`);
    return { run: progRunDelta(before, after), seconds: SECONDS, bits: r.bytesReceived * 8 };
  } finally {
    stats.restore();
    await stop();
  }
}

export async function measureTraffic(progress: (msg: string) => void): Promise<Section> {
  const section: Section = {
    id: 'traffic',
    title: '3. Traffic overhead, iperf3 through a veth pair',
    how: `one TCP stream a -> b, ${SECONDS} s per run, ${ROUNDS} rounds with the order turning, median of each run / the same round's bare run`,
    figures: [],
  };
  const bits = new Map<string, number[]>(WATCHERS.map((w) => [w.id, []]));
  const shares = new Map<string, number[]>(WATCHERS.map((w) => [w.id, []]));
  const why = new Map<string, string>();
  let kernel: KernelTime | undefined;
  let kernelWhy = 'not measured';
  try {
    await withLab('bench', async (lab) => {
      const a = await lab.addNs('a');
      const b = await lab.addNs('b');
      await lab.veth(a, 'va', b, 'vb');
      await lab.addr(a, 'va', `${ADDR_A}/24`);
      await lab.addr(b, 'vb', `${ADDR_B}/24`);
      for (let round = 0; round < ROUNDS; round++) {
        const order = WATCHERS.map((_, i) => WATCHERS[(i + round) % WATCHERS.length]!);
        const got = new Map<string, number>();
        for (const w of order) {
          if (why.has(w.id)) continue;
          progress(`traffic round ${round + 1}/${ROUNDS}: ${w.label}`);
          let stop: (() => Promise<void>) | undefined;
          try {
            stop = await w.start(lab, a, b);
            const r = await tcpTransfer(lab, { serverNs: b, clientNs: a, serverAddr: ADDR_B, seconds: SECONDS });
            if (!r.ok || r.bytesReceived === 0) throw new Error(`iperf3: ${r.error ?? 'nothing received'}`);
            got.set(w.id, (r.bytesReceived * 8) / SECONDS);
          } catch (e) {
            why.set(w.id, (e as Error).message.split('\n')[0]!);
          } finally {
            await stop?.();
          }
        }
        const bare = got.get('bare');
        for (const [id, v] of got) {
          bits.get(id)!.push(v);
          if (bare) shares.get(id)!.push(v / bare);
        }
      }
      if (!why.has('pmtu')) {
        progress('traffic: pmtu-watch once more, its programs timed by the kernel');
        try {
          kernel = await kernelTime(lab, a, b);
        } catch (e) {
          kernelWhy = (e as Error).message.split('\n')[0]!;
        }
      }
    });
  } catch (e) {
    for (const w of WATCHERS) if (!why.has(w.id)) why.set(w.id, `lab: ${(e as Error).message.split('\n')[0]}`);
  }

  const overhead = (id: string) => (shares.get(id)!.length ? 1 - median(shares.get(id)!) : undefined);
  for (const w of WATCHERS) {
    const v = bits.get(w.id)!;
    const label = w.label;
    if (!v.length || (w.id !== 'bare' && !shares.get(w.id)!.length)) {
      section.figures.push(notAvailable(`traffic.${w.id}`, label, 'bit/s', why.get(w.id) ?? why.get('bare') ?? 'not measured', w.peer));
      continue;
    }
    const fig: Figure = { id: `traffic.${w.id}`, label, value: median(v), unit: 'bit/s', peer: w.peer };
    if (w.id !== 'bare') fig.ratio = { value: median(shares.get(w.id)!), of: 'bare', style: 'percent' };
    // A busy machine moves throughput more than any watcher does: say how much.
    if (w.id === 'bare' && v.length > 1) fig.note = `bare runs from ${(Math.min(...v) / 1e9).toFixed(1)} to ${(Math.max(...v) / 1e9).toFixed(1)} Gbit/s: differences within that spread are noise`;
    if (w.id === 'pmtu') {
      fig.target = { text: `>= ${MIN_SHARE * 100}% of bare`, pass: fig.ratio!.value >= MIN_SHARE };
      const bare = bits.get('bare')!;
      const spread = bare.length > 1 ? (Math.max(...bare) - Math.min(...bare)) / median(bare) : 0;
      if (spread > 1 - MIN_SHARE) fig.note = `bare runs spread ${(spread * 100).toFixed(0)}%, more than the ${((1 - MIN_SHARE) * 100).toFixed(0)}% this target is about: trust it on a quiet machine`;
    }
    section.figures.push(fig);
  }
  const kernelLabel = "pmtu-watch's BPF programs on this traffic (run_time_ns), 100% = one core";
  if (kernel) {
    const { run, seconds, bits: sent } = kernel;
    section.figures.push({
      id: 'traffic.pmtu_kernel',
      label: kernelLabel,
      value: run.runTimeNs / 1e9 / seconds,
      unit: 'percent',
      note:
        `${((run.runTimeNs / (sent / 8)) * 1e6).toFixed(0)} ns per MB carried (${(sent / seconds / 1e9).toFixed(1)} Gbit/s with bpf_stats on): ` +
        Object.entries(run.byName ?? {})
          .filter(([, x]) => x.runCnt > 0)
          .map(([name, x]) => `${name} ${x.runCnt} runs of ${Math.round(x.runTimeNs / x.runCnt)} ns`)
          .join(', '),
    });
  } else {
    section.figures.push(notAvailable('traffic.pmtu_kernel', kernelLabel, 'percent', why.get('pmtu') ?? kernelWhy));
  }
  const own = overhead('pmtu');
  const dumps = ['tcpdump', 'tcpdump_size'].map(overhead).filter((x): x is number => x !== undefined);
  if (own !== undefined && dumps.length) {
    const cheapest = Math.min(...dumps);
    section.figures.push({
      id: 'traffic.overhead',
      label: 'pmtu-watch overhead (1 - share of bare)',
      value: own,
      unit: 'percent',
      target: { text: `< tcpdump's ${(cheapest * 100).toFixed(1)}%`, pass: own < cheapest },
    });
  }
  return section;
}
