// A stand-in for the native addon (native/index.d.ts) and for the sources of
// namespace names, so the observer wrapper and the CLI run without root.

import type { NativeAddon } from '../../src/observer/addon.js';
import type { NetnsEntry } from '../../src/netns/discovery.js';
import type { NameSources } from '../../src/observer/names.js';
import type {
  Attachment,
  Leftover,
  LinkBatch,
  LinkInfo,
  LinkMonitor as NativeLinkMonitor,
  LinkMonitorCounters,
  LinkMonitorOptions,
  WatchedNetns,
  LossCounters,
  Observer as NativeObserver,
  ObserverOptions,
  ProgramInfo,
  TestRunResult,
  TrafficCounters,
} from '../../native/index.js';

export function nativeError(code: string, message: string, hint = ''): Error {
  return Object.assign(new Error(message), { code, hint });
}

export interface FakeAddonOptions {
  /** Links per namespace path ('' for the observer's own); read on every call, so a test may change it. */
  links?: Record<string, LinkInfo[]>;
  /** Inode per namespace path ('' for the observer's own). */
  inodes?: Record<string, number>;
  dropReasons?: string[];
  warnings?: string[];
  /** Thrown by start(). */
  startError?: Error;
  /** Thrown by attach() for this namespace path and ifindex, when it returns one. */
  attachError?: (netns: string | null, ifindex: number) => Error | undefined;
  losses?: Partial<LossCounters>;
  /** What traffic() reports. */
  traffic?: TrafficCounters[];
  /** Filters of a killed run that removeLeftovers() finds, per namespace path ('' for the observer's own). */
  leftovers?: Record<string, Leftover[]>;
  /** Thrown by LinkMonitor.start(). */
  linkMonitorError?: Error;
  /** Thrown by LinkMonitor.add() for this namespace path, when it returns one. */
  linkAddError?: (netns: string | null) => Error | undefined;
}

export interface FakeAddon {
  addon: NativeAddon;
  /** Every native observer constructed, in order. */
  instances: FakeNativeObserver[];
  /** The one native observer constructed (fails the test otherwise). */
  only(): FakeNativeObserver;
  /** Every link monitor constructed, in order. */
  linkMonitors: FakeLinkMonitor[];
  /** The one link monitor constructed (fails the test otherwise). */
  linkMonitor(): FakeLinkMonitor;
}

export interface FakeLinkMonitor extends NativeLinkMonitor {
  stopCalls: number;
  /** Namespaces watched now, by id: their paths (null: ours). */
  watching: Map<number, string | null>;
  /** Hands a batch to the callback given to start(), as the monitor's thread would: notices name their namespace by path. */
  announce(notices: { netns: string | null; type: 'new' | 'del'; link: LinkInfo; tsNs?: number }[], overruns?: (string | null)[]): void;
}

export interface FakeNativeObserver extends NativeObserver {
  options: ObserverOptions | undefined;
  stopCalls: number;
  attachCalls: { netns: string | null; ifindex: number }[];
  detachCalls: { netns: string | null; ifindex: number }[];
  /** Hands a batch to the callback given to start(), as the drain thread would. */
  deliver(records: Buffer): void;
}

export function link(ifindex: number, name: string, mtu = 1500): LinkInfo {
  return { ifindex, name, mtu, up: true, kind: name === "lo" ? "" : "veth", master: 0, link: 0, linkNetnsid: -1 };
}

export function fakeAddon(o: FakeAddonOptions = {}): FakeAddon {
  const links = o.links ?? { '': [link(1, 'lo', 65536), link(2, 'eth0')] };
  const inodes = o.inodes ?? { '': 4026531840 };
  const instances: FakeNativeObserver[] = [];

  const listLinks = (netns: string | null): LinkInfo[] => {
    const l = links[netns ?? ''];
    if (!l) throw nativeError('PMTU_ERR_NETNS', `cannot open ${netns}`, 'is it still there?');
    return l;
  };
  const netnsInode = (netns: string | null): number => {
    const ino = inodes[netns ?? ''];
    if (ino === undefined) throw nativeError('PMTU_ERR_NETNS', `cannot stat ${netns}`);
    return ino;
  };

  class Observer implements FakeNativeObserver {
    stopCalls = 0;
    attachCalls: { netns: string | null; ifindex: number }[] = [];
    detachCalls: { netns: string | null; ifindex: number }[] = [];
    private onBatch: ((records: Buffer) => void) | undefined;
    private readonly attached: Attachment[] = [];

    readonly options: ObserverOptions | undefined;

    constructor(options?: ObserverOptions) {
      this.options = options;
      instances.push(this);
    }

    start(onBatch: (records: Buffer) => void): void {
      if (o.startError) throw o.startError;
      this.onBatch = onBatch;
    }

    attach(netns: string | null, ifindex: number): Attachment {
      this.attachCalls.push({ netns, ifindex });
      const err = o.attachError?.(netns, ifindex);
      if (err) throw err;
      const l = listLinks(netns).find((x) => x.ifindex === ifindex);
      if (!l) throw nativeError('PMTU_ERR_NO_DEVICE', `no ifindex ${ifindex}`);
      const a = { netns, ifindex, ifname: l.name };
      this.attached.push(a);
      return a;
    }

    detach(netns: string | null, ifindex: number): void {
      this.detachCalls.push({ netns, ifindex });
      const i = this.attached.findIndex((a) => a.netns === netns && a.ifindex === ifindex);
      if (i >= 0) this.attached.splice(i, 1);
    }

    attachments(): Attachment[] {
      return [...this.attached];
    }

    losses(): LossCounters {
      return { ringbufFull: 0, flowTableFull: 0, queueFull: 0, delivered: 0, ...o.losses };
    }

    traffic(): TrafficCounters[] {
      return [...(o.traffic ?? [])];
    }

    programs(): ProgramInfo[] {
      return [];
    }

    warnings(): string[] {
      return [...(o.warnings ?? [])];
    }

    testRun(): TestRunResult {
      throw nativeError('PMTU_ERR_STATE', 'not in the fake');
    }

    testRunAsync(): Promise<TestRunResult> {
      return Promise.reject(nativeError('PMTU_ERR_STATE', 'not in the fake'));
    }

    stop(): void {
      this.stopCalls++;
      this.attached.length = 0;
      this.onBatch = undefined;
    }

    deliver(records: Buffer): void {
      if (!this.onBatch) throw new Error('fake observer: deliver() before start() or after stop()');
      this.onBatch(records);
    }
  }

  const linkMonitors: FakeLinkMonitor[] = [];
  class LinkMonitor implements FakeLinkMonitor {
    stopCalls = 0;
    watching = new Map<number, string | null>();
    private nextId = 1;
    private onBatch: ((batch: LinkBatch) => void) | undefined;

    constructor(readonly options?: LinkMonitorOptions) {
      linkMonitors.push(this);
    }

    start(onBatch: (batch: LinkBatch) => void): void {
      if (o.linkMonitorError) throw o.linkMonitorError;
      this.onBatch = onBatch;
    }

    add(netns: string | null): WatchedNetns {
      if (!this.onBatch) throw nativeError('PMTU_ERR_STATE', 'add() before start()');
      const err = o.linkAddError?.(netns);
      if (err) throw err;
      const netnsInode = inodes[netns ?? ''];
      if (netnsInode === undefined) throw nativeError('PMTU_ERR_NETNS', `cannot open namespace ${netns}`);
      const id = this.nextId++;
      this.watching.set(id, netns);
      return { id, netnsInode };
    }

    remove(id: number): void {
      if (!this.watching.delete(id)) throw nativeError('PMTU_ERR_STATE', `no namespace watched as ${id}`);
    }

    counters(): LinkMonitorCounters {
      return { notices: 0, overruns: 0, queueFull: 0, namespaces: this.watching.size };
    }

    stop(): void {
      this.stopCalls++;
      this.watching.clear();
      this.onBatch = undefined;
    }

    announce(notices: { netns: string | null; type: 'new' | 'del'; link: LinkInfo; tsNs?: number }[], overruns: (string | null)[] = []): void {
      if (!this.onBatch) throw new Error('fake link monitor: announce() before start() or after stop()');
      const idOf = (netns: string | null) => {
        const id = [...this.watching].find(([, p]) => p === netns)?.[0];
        if (id === undefined) throw new Error(`fake link monitor: ${netns} is not watched`);
        return id;
      };
      this.onBatch({
        notices: notices.map((n) => ({ id: idOf(n.netns), type: n.type, tsNs: n.tsNs ?? 0, link: n.link })),
        overruns: overruns.map((netns) => ({ id: idOf(netns), count: 1 })),
      });
    }
  }

  // Probing sends real packets: the fake has no socket to offer (test/probe fakes the Prober instead).
  class ProbeSocket {
    constructor() {
      throw nativeError('PMTU_ERR_PERM', 'the fake addon sends no probes');
    }
    local(): string {
      return '';
    }
    send(): number {
      return 0;
    }
    receive(): Promise<null> {
      return Promise.resolve(null);
    }
    close(): void {}
  }

  const addon: NativeAddon = {
    Observer,
    LinkMonitor,
    ProbeSocket,
    listLinks,
    netnsInode,
    dropReasonNames: () => [...(o.dropReasons ?? [])],
    routeGet: () => ({ found: false, mtu: 0, expires: 0, ifindex: 0 }),
    readNetConfig: (netns) => ({ links: listLinks(netns), addresses: [], routes: [], cached: [], peerNsids: [] }),
    // Every sysctl exists and reads 0, in every namespace.
    readSysctls: (_netns, paths) => paths.map(() => '0'),
    removeLeftovers: (netns) => o.leftovers?.[netns ?? ''] ?? [],
    RECORD_SIZE: 344,
  };
  return {
    addon,
    instances,
    only() {
      if (instances.length !== 1) throw new Error(`expected one native observer, got ${instances.length}`);
      return instances[0]!;
    },
    linkMonitors,
    linkMonitor() {
      if (linkMonitors.length !== 1) throw new Error(`expected one link monitor, got ${linkMonitors.length}`);
      return linkMonitors[0]!;
    },
  };
}

export interface FakeNameSources extends NameSources {
  /** Milliseconds returned by now(); move it to let a refresh happen. */
  clock: number;
  /** Named namespaces; change it to simulate `ip netns add`. */
  named: Map<string, number | { inode: number; path: string }>;
  /** Namespaces of containers and processes, as the discovery would find them. */
  others: NetnsEntry[];
  listCalls: number;
}

/**
 * A host as the namespace discovery sees it: the observer's own namespace
 * (the initial one, `host`; null: cannot be read), `ip netns` names (their
 * files under /run/netns unless given), and `others` set by the test.
 */
export function fakeNameSources(named: Record<string, number | { inode: number; path: string }> = {}, host: number | null = 4026531840): FakeNameSources {
  const s: FakeNameSources = {
    clock: 1_000_000,
    named: new Map(Object.entries(named)),
    others: [],
    listCalls: 0,
    scan() {
      s.listCalls++;
      const out: NetnsEntry[] = [];
      if (host !== null) out.push({ inode: host, path: null, ref: 'host', info: { kind: 'host', inode: host } });
      for (const [name, v] of [...s.named].sort(([a], [b]) => a.localeCompare(b))) {
        const { inode, path } = typeof v === 'number' ? { inode: v, path: `/run/netns/${name}` } : v;
        if (!out.some((e) => e.inode === inode)) out.push({ inode, path, ref: name, info: { kind: 'named', inode, name } });
      }
      for (const e of s.others) if (!out.some((x) => x.inode === e.inode)) out.push(e);
      return out;
    },
    now: () => s.clock,
  };
  return s;
}
