// Which interfaces the observer watches, and the observer wrapper itself, on
// a fake addon (test/helpers/fake-addon.ts): no root, no kernel.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { PathLike } from 'node:fs';

import { PmtuError } from '../../src/errors.js';
import { Observer, resolveTargets, type ObserverOptions, type PmtuEvent } from '../../src/observer/index.js';
import { fakeAddon, fakeNameSources, link, nativeError, type FakeAddonOptions } from '../helpers/fake-addon.js';
import { batch, KIND } from '../helpers/records.js';

// `ip netns` namespace files: resolveTargets looks for /run/netns/NAME on
// disk. The tests say which ones "exist"; nothing is created.
const netnsFiles = vi.hoisted(() => new Set<string>());
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  return { ...fs, existsSync: (p: PathLike) => netnsFiles.has(String(p)) };
});

const OWN = 4026531840;
const BLUE = 4026532001;
const RED = 4026532002;

const LINKS: FakeAddonOptions['links'] = {
  '': [link(1, 'lo', 65536), link(2, 'eth0'), link(3, 'eth1', 9000)],
  '/run/netns/blue': [link(1, 'lo', 65536), link(2, 'veth-b', 1400)],
  '/run/netns/red': [link(1, 'lo', 65536), link(5, 'veth-r')],
};
const INODES = { '': OWN, '/run/netns/blue': BLUE, '/run/netns/red': RED };

function setup(o: FakeAddonOptions = {}) {
  return fakeAddon({ links: LINKS, inodes: INODES, ...o });
}

function thrown(fn: () => unknown): PmtuError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(PmtuError);
    return e as PmtuError;
  }
  throw new Error('expected a PmtuError, nothing was thrown');
}

beforeEach(() => {
  netnsFiles.clear();
});

describe('resolveTargets', () => {
  it('by default: every interface of the current namespace but lo', () => {
    const { addon } = setup();
    const targets = resolveTargets({}, addon, fakeNameSources({ blue: BLUE }, OWN));
    expect(targets).toHaveLength(2);
    expect(targets[0]).toMatchObject({ netns: null, path: null, ifindex: 2, ifname: 'eth0', mtu: 1500 });
    expect(targets[1]).toMatchObject({ netns: null, path: null, ifindex: 3, ifname: 'eth1', mtu: 9000 });
  });

  it('--iface restricts to the named interfaces, and lo is watched when named', () => {
    const { addon } = setup();
    const src = fakeNameSources({}, OWN);
    expect(resolveTargets({ ifaces: ['eth1'] }, addon, src).map((t) => t.ifname)).toEqual(['eth1']);
    expect(resolveTargets({ ifaces: ['lo', 'eth0'] }, addon, src).map((t) => t.ifname)).toEqual(['lo', 'eth0']);
  });

  it('an interface that is nowhere: PMTU_ERR_NO_DEVICE naming it', () => {
    const { addon } = setup();
    const err = thrown(() => resolveTargets({ ifaces: ['eth0', 'wlan9'] }, addon, fakeNameSources({}, OWN)));
    expect(err.code).toBe('PMTU_ERR_NO_DEVICE');
    expect(err.message).toContain('"wlan9"');
    expect(err.hint).toContain('ip link');
  });

  it('an unknown namespace name: PMTU_ERR_NETNS, the hint lists the names `ip netns` has', () => {
    const { addon } = setup();
    const err = thrown(() => resolveTargets({ netns: ['green'] }, addon, fakeNameSources({ red: RED, blue: BLUE }, OWN)));
    expect(err.code).toBe('PMTU_ERR_NETNS');
    expect(err.message).toContain('"green"');
    expect(err.hint).toBe('`ip netns list` has: blue, red');

    const none = thrown(() => resolveTargets({ netns: ['green'] }, addon, fakeNameSources({}, OWN)));
    expect(none.code).toBe('PMTU_ERR_NETNS');
    expect(none.hint).toBe('`ip netns list` shows none');
  });

  it('--netns watches those namespaces instead of the current one, each once', () => {
    netnsFiles.add('/run/netns/blue').add('/run/netns/red');
    const { addon } = setup();
    const targets = resolveTargets({ netns: ['blue', 'red', 'blue'] }, addon, fakeNameSources({ blue: BLUE, red: RED }, OWN));
    expect(targets.map((t) => [t.netns, t.path, t.ifname])).toEqual([
      ['blue', '/run/netns/blue', 'veth-b'],
      ['red', '/run/netns/red', 'veth-r'],
    ]);
    expect(targets[0]).toMatchObject({ ifindex: 2, mtu: 1400 });
  });

  it('opens a namespace by the file the discovery found it by (/var/run/netns too)', () => {
    netnsFiles.add('/var/run/netns/blue');
    const { addon } = setup({ links: { '/var/run/netns/blue': [link(4, 'veth-v')] }, inodes: { '/var/run/netns/blue': BLUE } });
    const targets = resolveTargets({ netns: ['blue'] }, addon, fakeNameSources({ blue: { inode: BLUE, path: '/var/run/netns/blue' } }, OWN));
    expect(targets).toHaveLength(1);
    expect(targets[0]).toMatchObject({ netns: 'blue', path: '/var/run/netns/blue', ifname: 'veth-v' });
  });

  it('--netns with --iface: the interface must be in one of them', () => {
    netnsFiles.add('/run/netns/blue');
    const { addon } = setup();
    const src = fakeNameSources({ blue: BLUE }, OWN);
    expect(resolveTargets({ netns: ['blue'], ifaces: ['veth-b'] }, addon, src).map((t) => t.ifname)).toEqual(['veth-b']);
    expect(thrown(() => resolveTargets({ netns: ['blue'], ifaces: ['eth0'] }, addon, src)).code).toBe('PMTU_ERR_NO_DEVICE');
  });

  it('a named namespace the addon cannot open is fatal when asked for by name', () => {
    netnsFiles.add('/run/netns/blue');
    const { addon } = setup({ links: { '': LINKS['']! } }); // blue's links cannot be listed
    const err = thrown(() => resolveTargets({ netns: ['blue'] }, addon, fakeNameSources({ blue: BLUE }, OWN)));
    expect(err.code).toBe('PMTU_ERR_NETNS');
  });

  it('--all-netns: the current namespace and every named one, skipping those gone meanwhile', () => {
    netnsFiles.add('/run/netns/blue').add('/run/netns/red');
    // "gone" is listed but has no file; red has a file but cannot be opened.
    const { addon } = setup({ links: { '': LINKS['']!, '/run/netns/blue': LINKS['/run/netns/blue']! } });
    const targets = resolveTargets({ allNetns: true }, addon, fakeNameSources({ red: RED, gone: 4026532099, blue: BLUE }, OWN));
    expect(targets.map((t) => `${t.netns ?? '.'}/${t.ifname}`)).toEqual(['./eth0', './eth1', 'blue/veth-b']);
  });

  it("--all-netns: containers' and processes' namespaces too, by their names; --netns takes those names", () => {
    const WEB = 4026532254;
    const path = '/proc/812/ns/net';
    const { addon } = setup({ links: { ...LINKS, [path]: [link(1, 'lo', 65536), link(9, 'eth0', 1450)] }, inodes: { ...INODES, [path]: WEB } });
    const src = fakeNameSources({ blue: BLUE }, OWN);
    src.others.push({ inode: WEB, path, ref: 'docker:web-1', info: { kind: 'docker', inode: WEB, name: 'web-1', id: 'f3a9c1d2e4b5', pid: 812 } });
    expect(resolveTargets({ allNetns: true }, addon, src).map((t) => `${t.netns ?? '.'}/${t.ifname}`)).toEqual(['./eth0', './eth1', 'blue/veth-b', 'docker:web-1/eth0']);
    for (const sel of ['docker:web-1', 'web-1', 'f3a9c1d2']) expect(resolveTargets({ netns: [sel] }, addon, src).map((t) => [t.netns, t.path, t.ifname])).toEqual([['docker:web-1', path, 'eth0']]);
    const err = thrown(() => resolveTargets({ netns: ['web-2'] }, addon, src));
    expect(err.hint).toBe('`ip netns list` has: blue; containers and processes: docker:web-1');
  });

  it('--all-netns with --iface: found in any namespace is enough', () => {
    netnsFiles.add('/run/netns/blue').add('/run/netns/red');
    const { addon } = setup();
    const targets = resolveTargets({ allNetns: true, ifaces: ['veth-r'] }, addon, fakeNameSources({ blue: BLUE, red: RED }, OWN));
    expect(targets.map((t) => `${t.netns}/${t.ifname}`)).toEqual(['red/veth-r']);
  });
});

describe('Observer', () => {
  const open: Observer[] = [];
  function observe(o: FakeAddonOptions = {}, opts: ObserverOptions = {}) {
    const fake = setup(o);
    const sources = fakeNameSources({ blue: BLUE, red: RED }, OWN);
    const observer = new Observer({ addon: fake.addon, nameSources: sources, noSignalHandlers: true, ...opts });
    open.push(observer);
    return { observer, fake, sources, native: fake.only() };
  }
  function collect(observer: Observer): PmtuEvent[] {
    const got: PmtuEvent[] = [];
    observer.on('events', (evs) => got.push(...evs));
    return got;
  }

  afterEach(() => {
    for (const o of open.splice(0)) o.close();
    vi.restoreAllMocks();
  });

  it('starts the addon, attaches to every target, and reports what the kernel cannot do', () => {
    const { observer, native } = observe({ warnings: ['tracepoint skb:kfree_skb has no reason on this kernel'] }, { sizeReportMin: 1400 });
    expect(native.options).toEqual({ sizeReportMin: 1400 });
    expect(native.attachCalls).toEqual([
      { netns: null, ifindex: 2 },
      { netns: null, ifindex: 3 },
    ]);
    expect(observer.attachments().map((a) => a.ifname)).toEqual(['eth0', 'eth1']);
    expect(observer.targets.map((t) => t.ifname)).toEqual(['eth0', 'eth1']);
    expect(observer.warnings).toEqual(['tracepoint skb:kfree_skb has no reason on this kernel']);
    expect(observer.running).toBe(true);
  });

  it('emits the decoded events of each batch the addon hands over', () => {
    const { observer, native } = observe();
    const got = collect(observer);
    native.deliver(batch({ kind: KIND.syn, netns: OWN, ifindex: 2, ifname: 'eth0', mss: 1460 }, { kind: KIND.drop, netns: BLUE, reason: 3 }));
    native.deliver(batch({ kind: KIND.size, netns: RED, len: 1500 }));
    expect(got.map((e) => [e.kind, e.netnsInode])).toEqual([
      ['syn', OWN],
      ['drop', BLUE],
      ['size', RED],
    ]);
    expect(got[0]!.mss).toBe(1460);
  });

  it('names interfaces it attached to, for events that did not record a name', () => {
    const { observer, native } = observe();
    const got = collect(observer);
    native.deliver(batch({ kind: KIND.size, netns: OWN, ifindex: 3, len: 1500 }));
    expect(observer.json(got[0]!)).toMatchObject({ netns: 'host', iface: 'eth1', len: 1500 });
  });

  it('counts records of unknown kinds in losses(), alongside the addon counters, and emits nothing for them', () => {
    const { observer, native } = observe({ losses: { ringbufFull: 4, delivered: 10 } });
    const got = collect(observer);
    let emitted = 0;
    observer.on('events', () => emitted++);
    native.deliver(batch({ kind: 42 }, { kind: 0 }));
    native.deliver(batch({ kind: 200 }, { kind: KIND.ptb }));
    expect(got.map((e) => e.kind)).toEqual(['ptb']);
    expect(emitted).toBe(1);
    expect(observer.losses()).toEqual({ ringbufFull: 4, flowTableFull: 0, queueFull: 0, delivered: 10, unknownRecords: 3 });
  });

  it('with --netns, reports only events of those namespaces (by the packet or by the MTU device)', () => {
    netnsFiles.add('/run/netns/blue').add('/run/netns/red');
    const { observer, native } = observe({}, { netns: ['blue'] });
    expect(native.attachCalls).toEqual([{ netns: '/run/netns/blue', ifindex: 2 }]);
    const got = collect(observer);
    let emitted = 0;
    observer.on('events', () => emitted++);
    native.deliver(
      batch(
        { kind: KIND.drop, netns: OWN, reason: 1 },
        { kind: KIND.drop, netns: BLUE, reason: 2 },
        { kind: KIND.drop, netns: RED, reason: 3 },
        { kind: KIND.ptbSent, netns: OWN, mtuIfindex: 2, mtuNetns: BLUE, reason: 4 },
      ),
    );
    native.deliver(batch({ kind: KIND.drop, netns: RED })); // nothing left: no emission
    expect(got.map((e) => e.reason)).toEqual([2, 4]);
    expect(emitted).toBe(1);
  });

  it('with --iface, reports only events on those interfaces (or whose MTU device it is)', () => {
    const { observer, native } = observe({}, { ifaces: ['eth1'] });
    const got = collect(observer);
    native.deliver(
      batch(
        { kind: KIND.drop, ifname: 'eth0', reason: 1 },
        { kind: KIND.drop, ifname: 'eth1', reason: 2 },
        { kind: KIND.drop, ifname: 'br0', mtuIfname: 'eth1', reason: 3 },
      ),
    );
    expect(got.map((e) => e.reason)).toEqual([2, 3]);
  });

  it('close() detaches through stop() once, however often it is called', () => {
    const { observer, native } = observe({ losses: { delivered: 7 } });
    observer.close();
    observer.close();
    expect(native.stopCalls).toBe(1);
    expect(observer.running).toBe(false);
    expect(observer.attachments()).toEqual([]);
    expect(observer.losses()).toEqual({ ringbufFull: 0, flowTableFull: 0, queueFull: 0, delivered: 0, unknownRecords: 0 });
  });

  it('an interface that vanished before attach is a warning; the rest are watched', () => {
    const { observer, native } = observe({
      attachError: (_ns, ifindex) => (ifindex === 3 ? nativeError('PMTU_ERR_NO_DEVICE', 'no device with ifindex 3') : undefined),
    });
    expect(observer.running).toBe(true);
    expect(observer.attachments().map((a) => a.ifname)).toEqual(['eth0']);
    expect(observer.warnings).toHaveLength(1);
    expect(observer.warnings[0]).toContain('eth1');
    expect(native.stopCalls).toBe(0);
  });

  it('any other attach failure is fatal: the error as the addon gave it, and the addon is stopped', () => {
    const fake = setup({
      attachError: (_ns, ifindex) => (ifindex === 3 ? nativeError('PMTU_ERR_ATTACH', 'tc hook refused', 'is another clsact in the way?') : undefined),
    });
    const before = { exit: process.listenerCount('exit'), int: process.listenerCount('SIGINT'), term: process.listenerCount('SIGTERM') };
    const err = thrown(() => new Observer({ addon: fake.addon, nameSources: fakeNameSources({}, OWN) }));
    expect(err.code).toBe('PMTU_ERR_ATTACH');
    expect(err.message).toContain('tc hook refused');
    expect(err.hint).toBe('is another clsact in the way?');
    expect(fake.only().stopCalls).toBe(1);
    expect({ exit: process.listenerCount('exit'), int: process.listenerCount('SIGINT'), term: process.listenerCount('SIGTERM') }).toEqual(before);
  });

  it('a start failure (permissions) is the addon error, code and hint kept', () => {
    const fake = setup({ startError: nativeError('PMTU_ERR_PERM', 'loading BPF programs needs CAP_BPF', 'run as root') });
    const err = thrown(() => new Observer({ addon: fake.addon, nameSources: fakeNameSources({}, OWN), noSignalHandlers: true }));
    expect(err.code).toBe('PMTU_ERR_PERM');
    expect(err.hint).toBe('run as root');
    expect(fake.only().attachCalls).toEqual([]);
  });

  it('a bad batch goes to the error listener as PMTU_ERR_INVALID and the observer goes on', () => {
    const { observer, native } = observe();
    const errors: PmtuError[] = [];
    observer.on('error', (e) => errors.push(e));
    const got = collect(observer);
    native.deliver(Buffer.alloc(100));
    native.deliver(batch({ kind: KIND.syn }));
    expect(errors.map((e) => e.code)).toEqual(['PMTU_ERR_INVALID']);
    expect(got.map((e) => e.kind)).toEqual(['syn']);
  });

  it('without an error listener, a bad batch is written to stderr, not thrown', () => {
    const { native } = observe();
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(() => native.deliver(Buffer.alloc(300))).not.toThrow();
    expect(write).toHaveBeenCalledTimes(1);
    expect(String(write.mock.calls[0]![0])).toMatch(/^pmtu-watch: .*300 bytes.*\n$/);
  });

  it('a stop() that throws on close is reported, not thrown', () => {
    const { observer, native } = observe();
    const errors: PmtuError[] = [];
    observer.on('error', (e) => errors.push(e));
    native.stop = () => {
      throw nativeError('PMTU_ERR_STATE', 'already stopping');
    };
    expect(() => observer.close()).not.toThrow();
    expect(errors.map((e) => e.code)).toEqual(['PMTU_ERR_STATE']);
  });

  it('closes on SIGINT/SIGTERM unless told not to, and close() removes its handlers', () => {
    const before = { exit: process.listenerCount('exit'), int: process.listenerCount('SIGINT'), term: process.listenerCount('SIGTERM') };
    const { observer } = observe({}, { noSignalHandlers: false });
    expect(process.listenerCount('SIGINT')).toBe(before.int + 1);
    expect(process.listenerCount('SIGTERM')).toBe(before.term + 1);
    expect(process.listenerCount('exit')).toBe(before.exit + 1);
    observer.close();
    expect({ exit: process.listenerCount('exit'), int: process.listenerCount('SIGINT'), term: process.listenerCount('SIGTERM') }).toEqual(before);

    const quiet = observe({}, { noSignalHandlers: true });
    expect(process.listenerCount('SIGINT')).toBe(before.int);
    quiet.observer.close();
  });
});

describe('Observer as an async iterable', () => {
  const open: Observer[] = [];
  function observe(opts: ObserverOptions = {}, o: FakeAddonOptions = {}) {
    const fake = setup(o);
    const observer = new Observer({ addon: fake.addon, nameSources: fakeNameSources({}, OWN), noSignalHandlers: true, rescanMs: 0, ...opts });
    open.push(observer);
    return { observer, native: fake.only() };
  }
  afterEach(() => {
    for (const o of open.splice(0)) o.close();
  });

  it('yields the events of every batch in order, then the ones still queued at close(), then ends', async () => {
    const { observer, native } = observe();
    const it = observer[Symbol.asyncIterator]();
    native.deliver(batch({ kind: KIND.syn, mss: 1 }, { kind: KIND.syn, mss: 2 }));
    native.deliver(batch({ kind: KIND.syn, mss: 3 }));
    expect((await it.next()).value?.mss).toBe(1);
    observer.close();
    expect((await it.next()).value?.mss).toBe(2);
    expect((await it.next()).value?.mss).toBe(3);
    expect(await it.next()).toEqual({ value: undefined, done: true });
    expect(await it.next()).toEqual({ value: undefined, done: true });
  });

  it('a next() that waits is answered by the next batch; several waiting ones each get one event', async () => {
    const { observer, native } = observe();
    const it = observer[Symbol.asyncIterator]();
    const a = it.next();
    const b = it.next();
    native.deliver(batch({ kind: KIND.drop, reason: 1 }, { kind: KIND.drop, reason: 2 }, { kind: KIND.drop, reason: 3 }));
    expect((await a).value?.reason).toBe(1);
    expect((await b).value?.reason).toBe(2);
    expect((await it.next()).value?.reason).toBe(3);
    const c = it.next();
    observer.close();
    expect(await c).toEqual({ value: undefined, done: true });
  });

  it('for await: a loop that breaks stops listening and leaves the observer running', async () => {
    const { observer, native } = observe();
    const listeners = observer.listenerCount('events');
    const seen: string[] = [];
    setImmediate(() => native.deliver(batch({ kind: KIND.ptb }, { kind: KIND.size })));
    for await (const ev of observer) {
      seen.push(ev.kind);
      if (ev.kind === 'size') break;
    }
    expect(seen).toEqual(['ptb', 'size']);
    expect(observer.listenerCount('events')).toBe(listeners);
    expect(observer.listenerCount('close')).toBe(0);
    expect(observer.running).toBe(true);
  });

  it('its queue is bounded: what a slow consumer cannot take is dropped and counted in losses().queueFull', async () => {
    const { observer, native } = observe({ maxQueuedEvents: 3 }, { losses: { queueFull: 10 } });
    const it = observer[Symbol.asyncIterator]();
    native.deliver(batch(...[1, 2, 3, 4, 5].map((mss) => ({ kind: KIND.syn, mss }))));
    expect(observer.losses().queueFull).toBe(12);
    expect((await it.next()).value?.mss).toBe(1);
    native.deliver(batch({ kind: KIND.syn, mss: 6 }, { kind: KIND.syn, mss: 7 }));
    expect(observer.losses().queueFull).toBe(13);
    const got: number[] = [];
    observer.close();
    for (let r = await it.next(); !r.done; r = await it.next()) got.push(r.value.mss);
    expect(got).toEqual([2, 3, 6]);
  });

  it('iterators do not share a queue: each sees every event', async () => {
    const { observer, native } = observe();
    const one = observer[Symbol.asyncIterator]();
    const two = observer[Symbol.asyncIterator]();
    native.deliver(batch({ kind: KIND.retransmit, len: 1448 }));
    expect((await one.next()).value?.len).toBe(1448);
    expect((await two.next()).value?.len).toBe(1448);
  });

  it('an observer already closed ends at once', async () => {
    const { observer } = observe();
    observer.close();
    expect(await observer[Symbol.asyncIterator]().next()).toEqual({ value: undefined, done: true });
  });

  it.each([0, -1, 1.5, Number.NaN])('maxQueuedEvents %s is PMTU_ERR_INVALID', (n) => {
    const fake = setup();
    const err = thrown(() => new Observer({ addon: fake.addon, nameSources: fakeNameSources({}, OWN), noSignalHandlers: true, maxQueuedEvents: n }));
    expect(err.code).toBe('PMTU_ERR_INVALID');
    expect(fake.instances).toEqual([]);
  });
});

describe('Observer.rescan', () => {
  const open: Observer[] = [];
  afterEach(() => {
    for (const o of open.splice(0)) o.close();
  });

  /** An observer that rescans only when told to, over links the test may change. */
  function watch(opts: ObserverOptions = {}, o: FakeAddonOptions = {}) {
    const links = { '': [link(1, 'lo', 65536), link(2, 'eth0')] } as Record<string, ReturnType<typeof link>[]>;
    const inodes: Record<string, number> = { '': OWN };
    const fake = fakeAddon({ links, inodes, ...o });
    const sources = fakeNameSources({}, OWN);
    const observer = new Observer({ addon: fake.addon, nameSources: sources, noSignalHandlers: true, rescanMs: 0, ...opts });
    open.push(observer);
    const warnings: string[] = [];
    observer.on('warning', (m) => warnings.push(m));
    return { observer, native: fake.only(), fake, links, inodes, sources, warnings };
  }

  it('watches an interface that appeared, and drops one that went away', () => {
    const { observer, native, fake, links } = watch();
    links['']!.push(link(7, 'veth7'));
    fake.linkMonitor().announce([{ netns: null, type: 'new', link: link(7, 'veth7') }]);
    observer.rescan();
    expect(observer.targets.map((t) => t.ifname)).toEqual(['eth0', 'veth7']);
    expect(native.attachCalls.at(-1)).toEqual({ netns: null, ifindex: 7 });

    links['']!.splice(1, 1); // eth0 is gone
    fake.linkMonitor().announce([{ netns: null, type: 'del', link: link(2, 'eth0') }]);
    observer.rescan();
    expect(observer.targets.map((t) => t.ifname)).toEqual(['veth7']);
    expect(native.detachCalls).toEqual([{ netns: null, ifindex: 2 }]);

    observer.rescan(); // nothing changed: nothing attached again
    expect(native.attachCalls).toHaveLength(2);
  });

  it('a namespace the link watch follows is not dumped again at each look; one it cannot follow is', () => {
    const { observer, fake } = watch();
    const listed: (string | null)[] = [];
    const listLinks = fake.addon.listLinks;
    fake.addon.listLinks = (netns) => (listed.push(netns), listLinks(netns));
    observer.rescan();
    observer.rescan();
    expect(listed).toEqual([]);

    const unfollowed = watch({}, { linkAddError: () => nativeError('PMTU_ERR_NETNS', 'no rtnetlink here') });
    const again: (string | null)[] = [];
    const list2 = unfollowed.fake.addon.listLinks;
    unfollowed.fake.addon.listLinks = (netns) => (again.push(netns), list2(netns));
    unfollowed.links['']!.push(link(7, 'veth7'));
    unfollowed.observer.rescan();
    expect(again).toEqual([null]);
    expect(unfollowed.observer.targets.map((t) => t.ifname)).toEqual(['eth0', 'veth7']);
  });

  it('with --all-netns, a namespace created after start is watched', () => {
    const { observer, native, links, inodes, sources } = watch({ allNetns: true });
    links['/run/netns/late'] = [link(1, 'lo', 65536), link(2, 'veth-l')];
    inodes['/run/netns/late'] = 4026532077;
    netnsFiles.add('/run/netns/late');
    sources.named.set('late', 4026532077);
    observer.rescan();
    expect(observer.targets.map((t) => `${t.netns ?? '.'}/${t.ifname}`)).toEqual(['./eth0', 'late/veth-l']);
    expect(native.attachCalls.at(-1)).toEqual({ netns: '/run/netns/late', ifindex: 2 });
  });

  it('an interface it cannot watch is a warning, not the end', () => {
    const { observer, fake, links, warnings } = watch(
      {},
      { attachError: (_ns, ifindex) => (ifindex === 8 ? nativeError('PMTU_ERR_ATTACH', 'no clsact here') : undefined) },
    );
    links['']!.push(link(8, 'odd0'));
    fake.linkMonitor().announce([{ netns: null, type: 'new', link: link(8, 'odd0') }]);
    observer.rescan();
    expect(observer.running).toBe(true);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('odd0');
    expect(warnings[0]).toContain('no clsact here');
  });

  it('a rescan that cannot list the interfaces is reported as an error and changes nothing', () => {
    // A namespace the link watch cannot follow is listed at every look.
    const { observer, links } = watch({}, { linkAddError: () => nativeError('PMTU_ERR_NETNS', 'no rtnetlink here') });
    const errors: PmtuError[] = [];
    observer.on('error', (e) => errors.push(e));
    delete links[''];
    expect(() => observer.rescan()).not.toThrow();
    expect(errors.map((e) => e.code)).toEqual(['PMTU_ERR_NETNS']);
    expect(observer.targets.map((t) => t.ifname)).toEqual(['eth0']);
  });

  it('does nothing once closed', () => {
    const { observer, native, links } = watch();
    observer.close();
    links['']!.push(link(7, 'veth7'));
    observer.rescan();
    expect(native.attachCalls).toHaveLength(1);
  });
});
