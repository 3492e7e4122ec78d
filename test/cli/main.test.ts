// The command line without a process: main(argv, io, deps) with the output
// captured, and `live` running the real Observer wrapper on a fake addon.

import { afterEach, describe, expect, it } from 'vitest';

import { PmtuError } from '../../src/errors.js';
import type { EventJson } from '../../src/contract/event.js';
import { eventText } from '../../src/contract/text.js';
import { main, type ProgramDeps } from '../../src/cli/main.js';
import { Observer, type ObserverOptions } from '../../src/observer/index.js';
import { fakeAddon, fakeNameSources, link, type FakeAddon, type FakeAddonOptions } from '../helpers/fake-addon.js';
import { batch, DIR, F, KIND, OVERSIZE_DROP, OWN_NETNS, PTB_ON_ETH0 } from '../helpers/records.js';

const OWN = OWN_NETNS;

interface Captured {
  code: number;
  out: string[];
  err: string[];
}

async function run(args: string[], deps: ProgramDeps = {}): Promise<Captured> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['node', 'pmtu-watch', ...args], { out: (l) => out.push(l), err: (l) => err.push(l) }, deps);
  return { code, out, err };
}

const never = new Promise<void>(() => {});

/** deps whose open() must not be reached. */
const noOpen: ProgramDeps = {
  live: {
    open: () => {
      throw new Error('open() should not have been called');
    },
    stopRequested: never,
  },
};

/** A usage error: exit 2, one error line (and commander's pointer to --help), nothing on stdout. */
function expectUsageError(r: Captured, pattern: RegExp): void {
  expect(r.code).toBe(2);
  expect(r.out).toEqual([]);
  expect(r.err).toHaveLength(1);
  expect(r.err[0]).toMatch(/^pmtu-watch: .* \(see --help\)$/);
  expect(r.err[0]).toMatch(pattern);
  expect(r.err[0]).not.toContain('\n');
}

/** The long options a help text lists, in order. */
function optionsListed(help: string): string[] {
  return [...help.matchAll(/^ {2}(?:-\w, )?(--[\w-]+)/gm)].map((m) => m[1]!);
}

describe('pmtu-watch (usage)', () => {
  it('--help exits 0 and lists the live command', async () => {
    const r = await run(['--help'], noOpen);
    expect(r.code).toBe(0);
    expect(r.err).toEqual([]);
    const help = r.out.join('\n');
    expect(help).toMatch(/^Usage: pmtu-watch/);
    expect(help).toMatch(/^ {2}live \[options\]/m);
    expect(optionsListed(help)).toEqual(['--help']);
  });

  it('live --help exits 0 and lists exactly the options live has', async () => {
    const r = await run(['live', '--help'], noOpen);
    expect(r.code).toBe(0);
    expect(r.err).toEqual([]);
    expect(optionsListed(r.out.join('\n'))).toEqual(['--json', '--netns', '--all-netns', '--iface', '--duration', '--size-min', '--every-flow', '--token', '--events', '--serve', '--help']);
  });

  it('no command: the usage on stderr, exit 2', async () => {
    const r = await run([], noOpen);
    expect(r.code).toBe(2);
    expect(r.out).toEqual([]);
    expect(r.err.join('\n')).toContain('Usage: pmtu-watch');
  });

  it.each(['0', '-1', 'abc', '', 'Infinity'])('--duration %j is refused (exit 2, one error line)', async (value) => {
    expectUsageError(await run(['live', '--duration', value], noOpen), /--duration must be a positive number/);
  });

  it.each(['0', '1.5', 'x'])('--size-min %j is refused', async (value) => {
    expectUsageError(await run(['live', '--size-min', value], noOpen), /--size-min must be a positive integer/);
  });

  it('an unknown option or command is a usage error', async () => {
    expectUsageError(await run(['live', '--bogus'], noOpen), /unknown option '--bogus'/);
    expectUsageError(await run(['frob'], noOpen), /unknown command 'frob'/);
    expectUsageError(await run(['live', 'extra'], noOpen), /too many arguments/);
  });

  it('--netns with --all-netns conflict, in either order', async () => {
    expectUsageError(await run(['live', '--netns', 'x', '--all-netns'], noOpen), /--all-netns.*cannot be used with.*--netns/);
    expectUsageError(await run(['live', '--all-netns', '--netns', 'x'], noOpen), /--all-netns.*cannot be used with.*--netns/);
  });
});

describe('pmtu-watch live (failing to start)', () => {
  it('an observer that cannot open: exit 1 and exactly one line, message and hint', async () => {
    const deps: ProgramDeps = {
      live: {
        open: () => {
          throw new PmtuError('PMTU_ERR_PERM', 'loading BPF programs needs CAP_BPF and CAP_NET_ADMIN', 'run as root');
        },
        stopRequested: never,
      },
    };
    const r = await run(['live', '--json'], deps);
    expect(r).toEqual({ code: 1, out: [], err: ['pmtu-watch: loading BPF programs needs CAP_BPF and CAP_NET_ADMIN (run as root)'] });
  });

  it('an addon error with a multi-line message is still one line', async () => {
    const deps: ProgramDeps = {
      live: {
        open: () => {
          throw Object.assign(new Error('libbpf: prog tc_ingress:\n  verifier says no\n'), { code: 'PMTU_ERR_BPF_LOAD', hint: 'see dmesg' });
        },
        stopRequested: never,
      },
    };
    const r = await run(['live'], deps);
    expect(r.code).toBe(1);
    expect(r.err).toEqual(['pmtu-watch: libbpf: prog tc_ingress: verifier says no (see dmesg)']);
  });

  it('an unknown --netns through the real observer: one line with the names `ip netns` has', async () => {
    const { addon } = fakeAddon();
    const deps: ProgramDeps = {
      live: {
        open: (opts) => new Observer({ ...opts, addon, nameSources: fakeNameSources({ blue: 4026532001, red: 4026532002 }, OWN) }),
        stopRequested: never,
      },
    };
    const r = await run(['live', '--netns', 'pmtu-watch-unit-no-such-ns'], deps);
    expect(r).toEqual({
      code: 1,
      out: [],
      err: ['pmtu-watch: no network namespace named "pmtu-watch-unit-no-such-ns" (`ip netns list` has: blue, red)'],
    });
  });
});

describe('pmtu-watch live (running)', () => {
  const observers: Observer[] = [];
  afterEach(() => {
    for (const o of observers.splice(0)) o.close();
  });

  const EVENTS = batch(
    // A packet of the flow itself first: a PTB about a flow never seen makes no verdict.
    {
      kind: KIND.size,
      dir: DIR.egress,
      flags: F.df,
      tsNs: 999_000_000n,
      netns: OWN,
      ifindex: 2,
      ifname: 'eth0',
      mtu: 1500,
      len: 1500,
      outer: { family: 4, src: '198.18.0.2', dst: '198.18.3.2', sport: 40000, dport: 443, proto: 6, len: 1500 },
    },
    PTB_ON_ETH0,
    { kind: 99 },
    OVERSIZE_DROP,
  );

  /** live on the real Observer with a fake addon; the batch arrives shortly after start. */
  function liveDeps(o: FakeAddonOptions = {}, deliver: Buffer[] = [EVENTS], extra: ProgramDeps['live'] = {}) {
    const fake: FakeAddon = fakeAddon({ links: { '': [link(1, 'lo', 65536), link(2, 'eth0')] }, inodes: { '': OWN }, dropReasons: ['', '', 'NOT_SPECIFIED'], ...o });
    const opened: ObserverOptions[] = [];
    const deps: ProgramDeps = {
      live: {
        open: (opts) => {
          opened.push(opts);
          const obs = new Observer({ ...opts, addon: fake.addon, nameSources: fakeNameSources({}, OWN) });
          observers.push(obs);
          setTimeout(() => {
            for (const b of deliver) fake.only().deliver(b);
          }, 20);
          return obs;
        },
        stopRequested: never,
        statsEveryMs: 60_000,
        ...extra,
      },
    };
    return { fake, opened, deps };
  }

  it('--json --duration 0.2: event lines, then a final stats line; exit 0 and the observer closed', async () => {
    const { fake, opened, deps } = liveDeps({ losses: { delivered: 3 } });
    const started = Date.now();
    const r = await run(['live', '--json', '--duration', '0.2'], deps);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(r.code).toBe(0);
    expect(r.err).toEqual([]);
    expect(opened).toEqual([{ netns: [], allNetns: false, ifaces: [], noSignalHandlers: true }]);
    expect(fake.only().stopCalls).toBe(1);

    const lines = r.out.map((l) => JSON.parse(l) as Record<string, unknown>);
    // The kernel's events, then the route lookup the PTB prompted (the fake has no route).
    const events = lines.filter((l) => l.type === 'event') as unknown as EventJson[];
    expect(events.map((e) => e.kind)).toEqual(['size', 'ptb', 'drop', 'route']);
    expect(events[1]).toMatchObject({
      netns: 'host',
      iface: 'eth0',
      dir: 'ingress',
      src: '198.18.1.1',
      dst: '198.18.0.2',
      proto: 'icmp',
      mtu: 1400,
      inner: { src: '198.18.0.2', dst: '198.18.3.2', sport: 40000, dport: 443, proto: 'tcp', len: 1500 },
      flags: ['df', 'icmp-error'],
    });
    expect(typeof events[1]!.ts).toBe('number');
    expect(events[2]).toMatchObject({ iface: 'eth0', reason: 'NOT_SPECIFIED', len: 9000, mtu: 1500, flags: ['oversize'] });
    expect(lines.every((l) => l.type === 'event' || l.type === 'stats' || l.type === 'verdict')).toBe(true);
    const verdicts = lines.filter((l) => l.type === 'verdict');
    expect(verdicts.map((v) => [v.verdict, v.cause])).toEqual([
      ['ok', null],
      ['ptb-honored', null],
      ['local-bottleneck', 'layer2'],
      ['ptb-dropped', 'not-applied'],
    ]);

    const last = lines.at(-1)!;
    expect(Object.keys(last)).toEqual(['type', 'elapsedS', 'interfaces', 'events', 'losses', 'flows', 'traffic']);
    expect(last).toMatchObject({
      type: 'stats',
      interfaces: 1,
      events: { size: 1, ptb: 1, drop: 1, route: 1 },
      losses: { ringbufFull: 0, flowTableFull: 0, queueFull: 0, delivered: 3, unknownRecords: 1, sinkBehind: 0 },
    });
    expect(last.elapsedS).toBeGreaterThanOrEqual(0.2);
  });

  it('--json prints stats periodically too', async () => {
    const { deps } = liveDeps({}, [], { statsEveryMs: 40 });
    const r = await run(['live', '--json', '--duration', '0.25'], deps);
    expect(r.code).toBe(0);
    const stats = r.out.map((l) => JSON.parse(l) as { type: string }).filter((l) => l.type === 'stats');
    expect(stats.length).toBeGreaterThanOrEqual(3);
  });

  it('passes --netns, --iface (repeatable) and --size-min to the observer', async () => {
    const opened: ObserverOptions[] = [];
    const deps: ProgramDeps = {
      live: {
        open: (opts) => {
          opened.push(opts);
          throw new PmtuError('PMTU_ERR_NETNS', 'stop here');
        },
        stopRequested: never,
      },
    };
    await run(['live', '--netns', 'a', '--netns', 'b', '--iface', 'x', '--iface', 'y', '--size-min', '1400'], deps);
    expect(opened).toEqual([{ netns: ['a', 'b'], allNetns: false, ifaces: ['x', 'y'], sizeReportMin: 1400, noSignalHandlers: true }]);
    opened.length = 0;
    await run(['live', '--all-netns'], deps);
    expect(opened[0]).toMatchObject({ netns: [], allNetns: true, ifaces: [] });
    expect(opened[0]!.everyFlow).toBeUndefined(); // only what can be trouble, by default
    opened.length = 0;
    await run(['live', '--every-flow'], deps);
    expect(opened[0]).toMatchObject({ everyFlow: true });
  });

  it('readable lines for a person (--events: every event too), a start line and a summary on stderr; stops when asked', async () => {
    let stop!: () => void;
    const stopRequested = new Promise<void>((resolve) => (stop = resolve));
    const { fake, deps } = liveDeps({ warnings: ['no skb:kfree_skb reasons here'] }, [EVENTS], { stopRequested });
    setTimeout(() => stop(), 150);
    const r = await run(['live', '--events'], deps);
    expect(r.code).toBe(0);
    expect(fake.only().stopCalls).toBe(1);
    const events = r.out.filter((l) => /^\d\d:\d\d:\d\d\.\d{3} host\//.test(l));
    expect(events).toHaveLength(3);
    expect(events[1]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} host\/eth0 ingress PTB from 198\.18\.1\.1 to 198\.18\.0\.2 mtu 1400 for tcp 198\.18\.0\.2:40000 -> 198\.18\.3\.2:443$/);
    expect(events[2]).toMatch(/ host\/eth0 DROP NOT_SPECIFIED 10\.0\.0\.1 -> 10\.0\.0\.2 len 9000 > mtu 1500$/);
    expect(r.out.some((l) => / LOCAL-BOTTLENECK layer2 /.test(l))).toBe(true);
    expect(r.err).toEqual([
      'pmtu-watch: warning: no skb:kfree_skb reasons here',
      'pmtu-watch: watching 1 interface(s); Ctrl-C stops',
      'pmtu-watch: 4 events, 2 flows, 2 in trouble, 0 lost, 0 unmatched ICMP errors',
    ]);
  });

  it('events the kernel or the addon lost are said while plain output runs, and in its summary', async () => {
    const { deps } = liveDeps({ losses: { ringbufFull: 7, queueFull: 5 } }, [], { statsEveryMs: 30 });
    const r = await run(['live', '--duration', '0.2'], deps);
    expect(r.code).toBe(0);
    expect(r.err).toContain('pmtu-watch: warning: 12 events lost (12 in all: 7 ring buffer full, 5 consumer behind); verdicts may lack evidence');
    expect(r.err.filter((l) => l.includes('events lost'))).toHaveLength(1); // said once, not at every look
    expect(r.err.at(-1)).toBe('pmtu-watch: 0 events, 0 flows, 0 in trouble, 12 lost, 0 unmatched ICMP errors');
  });

  it('a bad batch while running is one error line, and the run goes on', async () => {
    const { deps } = liveDeps({}, [Buffer.alloc(10), EVENTS]);
    const r = await run(['live', '--json', '--duration', '0.1'], deps);
    expect(r.code).toBe(0);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toMatch(/^pmtu-watch: a batch of 10 bytes .*\(.*\)$/);
    expect(r.out.map((l) => (JSON.parse(l) as { kind?: string }).kind).filter(Boolean)).toEqual(['size', 'ptb', 'drop', 'route']);
  });
});

describe('eventText', () => {
  const ts = Date.UTC(2026, 10, 22, 12, 34, 56, 789);
  const base = { type: 'event' as const, ts, netns: 'c', iface: 'to-r1', dir: null, flags: [] as string[] };

  it('ptb', () => {
    const e: EventJson = {
      ...base,
      kind: 'ptb',
      dir: 'ingress',
      src: '198.18.1.1',
      dst: '198.18.0.2',
      proto: 'icmp',
      mtu: 1400,
      len: 576,
      inner: { src: '198.18.0.2', dst: '198.18.3.2', sport: 40000, dport: 443, proto: 'tcp', len: 1500 },
      flags: ['df', 'icmp-error'],
    };
    expect(eventText(e)).toBe('12:34:56.789 c/to-r1 ingress PTB from 198.18.1.1 to 198.18.0.2 mtu 1400 for tcp 198.18.0.2:40000 -> 198.18.3.2:443');
  });

  it('ptb over IPv6 brackets addresses with ports', () => {
    const e: EventJson = {
      ...base,
      kind: 'ptb',
      dir: 'egress',
      src: '2001:db8:1::1',
      dst: '2001:db8::2',
      proto: 'icmpv6',
      mtu: 1280,
      inner: { src: '2001:db8::2', dst: '2001:db8:3::2', sport: 1, dport: 2, proto: 'udp', len: 1500 },
    };
    expect(eventText(e)).toBe('12:34:56.789 c/to-r1 egress PTB from 2001:db8:1::1 to 2001:db8::2 mtu 1280 for udp [2001:db8::2]:1 -> [2001:db8:3::2]:2');
  });

  it('ptb-sent: to whom, and the route device', () => {
    const e: EventJson = {
      ...base,
      kind: 'ptb-sent',
      netns: 'r1',
      iface: 'to-c',
      dst: '198.18.0.2',
      mtu: 1500,
      mtuIface: 'to-r2',
      inner: { src: '198.18.0.2', dst: '198.18.3.2', sport: 0, dport: 0, proto: 'icmp', len: 4028 },
      flags: ['icmp-error', 'local'],
    };
    expect(eventText(e)).toBe('12:34:56.789 r1/to-c PTB generated to 198.18.0.2 mtu 1500 (route via to-r2) for icmp 198.18.0.2 -> 198.18.3.2');
    const bare: EventJson = { ...base, kind: 'ptb-sent', mtu: 1500 };
    expect(eventText(bare)).toBe('12:34:56.789 c/to-r1 PTB generated mtu 1500');
  });

  it('drop of an oversize packet, with the device in another namespace', () => {
    const e: EventJson = {
      ...base,
      kind: 'drop',
      netns: 'host',
      iface: 'br0',
      src: '10.0.0.1',
      dst: '10.0.0.2',
      proto: 'tcp',
      mtu: 1500,
      len: 9000,
      reason: 'NOT_SPECIFIED',
      mtuIface: 'to-c',
      mtuNetns: 'r1',
      flags: ['df', 'oversize'],
    };
    expect(eventText(e)).toBe('12:34:56.789 host/br0 DROP NOT_SPECIFIED 10.0.0.1 -> 10.0.0.2 len 9000 > mtu 1500 of r1/to-c');
    expect(eventText({ ...e, mtuNetns: undefined })).toBe('12:34:56.789 host/br0 DROP NOT_SPECIFIED 10.0.0.1 -> 10.0.0.2 len 9000 > mtu 1500 of to-c');
  });

  it('drop of an ICMP error (a PTB eaten by rp_filter)', () => {
    const e: EventJson = {
      ...base,
      kind: 'drop',
      src: '198.19.0.1',
      dst: '198.18.1.2',
      proto: 'icmp',
      mtu: 1500,
      len: 576,
      reason: 'IP_RPFILTER',
      inner: { src: '198.18.1.2', dst: '198.18.3.2', sport: 0, dport: 0, proto: 'icmp', len: 4028 },
      flags: ['icmp-error'],
    };
    expect(eventText(e)).toBe(
      '12:34:56.789 c/to-r1 DROP IP_RPFILTER 198.19.0.1 -> 198.18.1.2 len 576 (ICMP error, advertised mtu 1500) for icmp 198.18.1.2 -> 198.18.3.2',
    );
  });

  it('syn and syn-ack, with and without an MSS option', () => {
    const e: EventJson = { ...base, kind: 'syn', dir: 'egress', src: '192.0.2.1', dst: '192.0.2.2', proto: 'tcp', mtu: 9000, len: 60, mss: 8960, flags: ['df', 'synack'] };
    expect(eventText(e)).toBe('12:34:56.789 c/to-r1 egress SYN-ACK 192.0.2.1 -> 192.0.2.2 mss 8960');
    expect(eventText({ ...e, mss: 0, flags: ['df'] })).toBe('12:34:56.789 c/to-r1 egress SYN 192.0.2.1 -> 192.0.2.2 mss none');
  });

  it('retransmit', () => {
    const e: EventJson = { ...base, kind: 'retransmit', src: '192.0.2.1', dst: '192.0.2.2', proto: 'tcp', mtu: 1500, len: 1500, mss: 1448, flags: ['df'] };
    expect(eventText(e)).toBe('12:34:56.789 c/to-r1 RETRANSMIT 192.0.2.1 -> 192.0.2.2 segment 1500 mss 1448');
  });

  it('size', () => {
    const e: EventJson = { ...base, kind: 'size', dir: 'ingress', src: '2001:db8:1::2', dst: '2001:db8:3::2', proto: 'udp', mtu: 9000, len: 8940, flags: ['df'] };
    expect(eventText(e)).toBe('12:34:56.789 c/to-r1 ingress LARGEST DF 2001:db8:1::2 -> 2001:db8:3::2 udp now 8940 (iface mtu 9000)');
  });

  it('an event without namespace or interface names says so', () => {
    expect(eventText({ ...base, kind: 'retransmit', netns: '', iface: '', len: 1500, mss: 1448 })).toBe('12:34:56.789 ?/? RETRANSMIT segment 1500 mss 1448');
  });
});
