// `pmtu-watch probe DEST`: find the path MTU to DEST actively (DF probes,
// a binary search), locate the hop where the failing size stops (TTL), and
// say what became of each PTB on this host (the observers run meanwhile).
// Exit 0: the path carries the route's MTU, or a PTB was honored; 1: a
// problem (or no answer at all, or it could not run); 2: bad flags.

import { isIP } from 'node:net';

import { InvalidArgumentError, Option, type Command } from 'commander';

import { probeText, type ProbeJson, type ProbeProto } from '../contract/probe.js';
import { PmtuError, fromNative, oneLine } from '../errors.js';
import { ipv4ConfKey } from '../net/sysctl.js';
import { selectNetns } from '../netns/discovery.js';
import { loadAddon, type NativeAddon } from '../observer/addon.js';
import { openObserver, type Observer, type ObserverOptions } from '../observer/index.js';
import { hostNameSources, type NameSources } from '../observer/names.js';
import { minimumSize, protoNumber, type Family } from '../probe/packets.js';
import { probeResult } from '../probe/result.js';
import { DEFAULT_SEARCH, search, type Prober } from '../probe/search.js';
import { SocketProber } from '../probe/socket.js';
import { ProbeWatch } from '../probe/watch.js';
import type { Io } from './io.js';

export const PROBE_PROTOS = ['icmp', 'udp', 'tcp'] as const;

export interface ProbeOptions {
  netns?: string;
  proto: ProbeProto;
  port?: number;
  json: boolean;
  /** The whole run's bound, in seconds. */
  timeout: number;
}

type ProbeAddon = Pick<NativeAddon, 'ProbeSocket' | 'routeGet' | 'listLinks' | 'readSysctls'>;

export interface ProbeDeps {
  addon?: () => ProbeAddon;
  open?: (opts: ObserverOptions) => Observer;
  sources?: NameSources;
}

/** The traceroute convention for UDP: a port nothing listens on, so dst answers "port unreachable". */
export const DEFAULT_UDP_PORT = 33434;

/** DEST: an address, never a name (probe sends only to the address it is given). */
export function probeDest(value: string): string {
  if (isIP(value) === 0) throw new PmtuError('PMTU_ERR_USAGE', `DEST must be an IPv4 or IPv6 address, not "${value}" (probe resolves no names)`);
  return value;
}

function checkFlags(opts: ProbeOptions): void {
  if (opts.proto === 'tcp' && opts.port === undefined) throw new PmtuError('PMTU_ERR_USAGE', '--proto tcp needs --port (a port DEST listens on, or one a firewall lets through)');
  if (opts.proto === 'icmp' && opts.port !== undefined) throw new PmtuError('PMTU_ERR_USAGE', '--port is for --proto udp or tcp');
}

export async function runProbe(dst: string, opts: ProbeOptions, io: Io, deps: ProbeDeps = {}): Promise<number> {
  const t0 = Date.now();
  let observer: Observer | undefined;
  let prober: SocketProber | undefined;
  let watch: ProbeWatch | undefined;
  try {
    checkFlags(opts);
    const family = isIP(dst) as Family;
    const port = opts.proto === 'icmp' ? null : (opts.port ?? DEFAULT_UDP_PORT);
    let path: string | null = null;
    let netns: string | null = null;
    if (opts.netns) {
      const entry = selectNetns((deps.sources ?? hostNameSources()).scan(), opts.netns);
      if (!entry) throw new PmtuError('PMTU_ERR_NETNS', `no network namespace named "${opts.netns}"`, 'see `ip netns list`');
      path = entry.path;
      netns = entry.path === null ? null : entry.ref;
    }
    const addon = (deps.addon ?? loadAddon)();
    const route = addon.routeGet(path, dst);
    if (!route.found) throw new PmtuError('PMTU_ERR_INVALID', `no route to ${dst}${netns ? ` in ${netns}` : ''}`);
    const link = addon.listLinks(path).find((l) => l.ifindex === route.ifindex);
    const routeMtu = link?.mtu ?? 1500;
    const min = minimumSize(family);
    if (routeMtu < min) throw new PmtuError('PMTU_ERR_INVALID', `the route to ${dst} leaves by ${link?.name ?? '?'} at MTU ${routeMtu}, below the ${min} every IPv${family} link carries`);

    // The observers were not asked for: when they cannot run, say so and probe all the same.
    let notObserved: string | undefined;
    try {
      observer = (deps.open ?? openObserver)({ netns: opts.netns ? [opts.netns] : [], rescanMs: 0 });
    } catch (e) {
      notObserved = fromNative(e).message;
      io.err(`pmtu-watch: warning: the observers cannot run (${notObserved}): a PTB this host drops will not be seen`);
    }
    prober = new SocketProber(addon, path, dst, opts.proto, port);
    watch = new ProbeWatch(observer, { src: prober.ids.src, dst, proto: protoNumber(family, opts.proto) });
    prober.watch = watch;
    const o = { ...DEFAULT_SEARCH, min, max: routeMtu, budgetMs: opts.timeout * 1000 };
    io.err(
      `pmtu-watch: probing ${dst}${netns ? ` from ${netns}` : ''} with ${opts.proto}${port !== null ? ` to port ${port}` : ''}, DF, ${min}-${routeMtu} bytes, ` +
        `at most ${o.maxProbes} probes in ${opts.timeout} s; the kernel caches a path MTU it learns from the PTBs they draw, as for any traffic ` +
        `(for net.ipv4.route.mtu_expires, 600 s by default)`,
    );
    const found = await search(prober as Prober, o);
    const after = addon.routeGet(path, dst);
    const result: ProbeJson = probeResult(found, {
      ts: Date.now(),
      dst,
      proto: opts.proto,
      port,
      netns,
      src: prober.ids.src,
      routeMtu,
      elapsedMs: Date.now() - t0,
      observed: observer !== undefined,
      ...(notObserved ? { notObserved } : {}),
      cachedMtu: after.mtu,
      rpFilterSysctls: (iface) => {
        const values = addon.readSysctls(path, ['all', iface].map((i) => `net/ipv4/conf/${i}/rp_filter`));
        return ['all', iface].map((i, n) => `${ipv4ConfKey(i, 'rp_filter')}=${values[n]?.trim() ?? '?'}`);
      },
    });
    if (opts.json) io.out(JSON.stringify(result));
    else for (const line of probeText(result)) io.out(line);
    return result.verdict === 'ok' || result.verdict === 'ptb-honored' ? 0 : 1;
  } catch (e) {
    io.err(oneLine(e));
    return e instanceof PmtuError && e.code === 'PMTU_ERR_USAGE' ? 2 : 1;
  } finally {
    watch?.close();
    prober?.close();
    observer?.close();
  }
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('--port must be an integer from 1 to 65535');
  return n;
}

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 300) throw new InvalidArgumentError('--timeout must be a number of seconds above 0, at most 300');
  return n;
}

function dest(value: string): string {
  try {
    return probeDest(value);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

export function registerProbeCommand(program: Command, io: Io, deps: ProbeDeps, settle: (code: number) => void): void {
  program
    .command('probe')
    .description(
      'find the path MTU to DEST actively: DF probes in a binary search between 576 (IPv6: 1280) and the route\'s MTU, TTL-limited ' +
        'probes at the failing size to find the hop where it stops, while the observers say what became of each PTB on this host ' +
        '(delivered and cached, rp_filter, firewall); the verdict and fix in live\'s words (needs root)',
    )
    .argument('<DEST>', 'the IPv4 or IPv6 address to probe: the only address probe sends to', dest)
    .option('--netns <name>', 'probe from this namespace (an `ip netns` name, docker:NAME, pod:NS/NAME, lxc:ID, pid:N or a namespace file); the observers watch it')
    .addOption(new Option('--proto <proto>', 'what to probe with: ICMP echo, UDP to --port (default 33434), or TCP SYNs to --port').choices([...PROBE_PROTOS]).default('icmp'))
    .option('--port <n>', 'UDP or TCP destination port', port)
    .option('--timeout <seconds>', 'bound of the whole run', seconds, 20)
    .option('--json', 'one JSON object (type "probe", see docs/json-contract.md)', false)
    .addHelpText(
      'after',
      '\nProbes go one at a time, 20 ms apart at least, at most 200 in all; a size is sent up to 3 times when nothing answers.\n' +
        'They carry DF whatever path MTU the kernel cached; the kernel caches one it learns from their PTBs, as for any traffic.\n' +
        '--proto tcp sends SYNs padded to each size (a listener answers SYN-ACK, a closed port RST; this host\'s stack then resets them).\n' +
        'Exit status: 0 the path carries the route\'s MTU or a PTB was honored, 1 a problem (or no answer, or it could not run), 2 bad flags.',
    )
    .action(async (d: string, opts: ProbeOptions) => settle(await runProbe(d, opts, io, deps)));
}
