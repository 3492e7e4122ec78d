// The typed observer: picks the interfaces to watch, runs the addon, and
// hands over decoded events, one of two ways:
//
//   const obs = openObserver({ netns: ['blue'] });
//   obs.on('events', (events) => ...);   // PmtuEvent[] per ring-buffer batch
//   obs.on('error', (err) => ...);       // PmtuError; the observer keeps running
//   ...
//   obs.close();                         // detaches; also on exit, SIGINT, SIGTERM
//
//   for await (const ev of openObserver()) ...  // ends after close(); break closes nothing
//
// The emitter is the primitive: batches arrive from the addon's thread in
// bursts and a listener is called synchronously, so nothing queues in
// JavaScript beyond the addon's own bounded queue (whose overflow it counts).
// An async iterator is a listener with a queue of its own for a consumer that
// awaits between events: that queue is bounded (maxQueuedEvents) and what it
// cannot hold is counted in losses().queueFull, like the addon's overflow.

import { EventEmitter } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';

import { fromNative, PmtuError } from '../errors.js';
import { loadAddon, type NativeAddon } from './addon.js';
import { decodeBatch } from './decode.js';
import type { PmtuEvent } from './events.js';
import type { EventJson } from '../contract/event.js';
import type { ObserverLosses, TrafficJson } from '../contract/stats.js';
import { eventJson, type Namers } from './json.js';
import type { LinkEventJson } from '../contract/event.js';
import { selectNetns, type NetnsEntry } from '../netns/discovery.js';
import { LinkWatch, type LinkSpace } from './link-watch.js';
import type { LinkFacts } from './links.js';
import { DropReasons, IfaceNames, NetnsNames, hostNameSources, type NameSources } from './names.js';
import type { Attachment, Observer as NativeObserver } from '../../native/index.js';

export type { PmtuEvent } from './events.js';
export type { ObserverLosses } from '../contract/stats.js'; // the package's entry point names it

export interface ObserverOptions {
  /** Named namespaces (`ip netns` names) to watch instead of the current one. */
  netns?: string[];
  /** The current namespace and every named one. */
  allNetns?: boolean;
  /** Only these interfaces (names) in the selected namespaces. */
  ifaces?: string[];
  /** Track a flow's largest DF packet from this size on (bytes). */
  sizeReportMin?: number;
  /** Every SYN, SYN-ACK and largest-size growth as an event, not only what can be trouble (costly on a busy host). */
  everyFlow?: boolean;
  /** Entries of the kernel's flow table (default 131072). */
  flowTableEntries?: number;
  /** For tests: a stand-in for the native addon. */
  addon?: NativeAddon;
  /** For tests: where namespace names come from. */
  nameSources?: NameSources;
  /** Leave SIGINT/SIGTERM alone (the caller closes the observer itself). */
  noSignalHandlers?: boolean;
  /**
   * How often to look for interfaces and namespaces that appeared (attached)
   * or went away (dropped), in ms; 0: never. Default 1000.
   */
  rescanMs?: number;
  /** Events each async iterator holds for a consumer that is behind, before it drops new ones (default 65536). */
  maxQueuedEvents?: number;
}

const DEFAULT_MAX_QUEUED_EVENTS = 65536;

function targetKey(t: Target): string {
  return `${t.netnsInode}/${t.ifindex}/${t.ifname}`;
}

export interface Target {
  /** The namespace's stable name (an `ip netns` name, docker:web-1, pid:812), or null for the observer's own. */
  netns: string | null;
  /** Path of the namespace file, null for our own. */
  path: string | null;
  /** The namespace's inode: a namespace re-created under the same name is another one. */
  netnsInode: number;
  ifindex: number;
  ifname: string;
  /** rtnetlink's kind: bridge, veth, tun (a tap), '' for a plain device. */
  kind: string;
  mtu: number;
  up: boolean;
  /** The ifindex of the bridge (or bond) it is in, 0 when none. */
  master: number;
}



/** The error for a --netns selector that names nothing, with what there is. */
function noSuchNetns(selector: string, entries: readonly NetnsEntry[]): PmtuError {
  const named = entries.filter((e) => e.info.kind === 'named').map((e) => e.ref).sort();
  const others = entries.filter((e) => !['named', 'host', 'current'].includes(e.info.kind)).map((e) => e.ref);
  const also = others.length ? `; containers and processes: ${others.slice(0, 10).join(', ')}${others.length > 10 ? ', ...' : ''}` : '';
  return new PmtuError(
    'PMTU_ERR_NETNS',
    `no network namespace named "${selector}"`,
    (named.length ? `\`ip netns list\` has: ${named.join(', ')}` : '`ip netns list` shows none') + also,
  );
}

interface Space {
  /** The stable name of a namespace reached by a file; null for our own. */
  name: string | null;
  path: string | null;
}

/** The namespaces the selection names, from a scan of the host's (`rescan`: one that vanished is skipped, not an error). */
function selectSpaces(opts: Pick<ObserverOptions, 'netns' | 'allNetns'>, entries: readonly NetnsEntry[], rescan: boolean): Space[] {
  const spaces: Space[] = [];
  if (opts.netns?.length) {
    for (const selector of opts.netns) {
      const e = selectNetns(entries, selector);
      if (!e && rescan) continue; // it went away: its hooks went with it
      if (!e) throw noSuchNetns(selector, entries);
      if (!spaces.some((s) => s.path === e.path)) spaces.push({ name: e.path === null ? null : e.ref, path: e.path });
    }
  } else {
    spaces.push({ name: null, path: null });
    if (opts.allNetns) for (const e of entries) if (e.path !== null) spaces.push({ name: e.ref, path: e.path });
  }
  return spaces;
}

/** Whether a link is one the selection watches: the interfaces asked for, else all but loopback. */
function watchedLink(opts: Pick<ObserverOptions, 'ifaces'>): (name: string) => boolean {
  const wanted = opts.ifaces?.length ? new Set(opts.ifaces) : undefined;
  return (name) => (wanted ? wanted.has(name) : name !== 'lo');
}

/**
 * Works out which interfaces of which namespaces to attach to. `entries`:
 * a scan of the host's namespaces, made by the caller when it has one.
 */
export function resolveTargets(
  opts: Pick<ObserverOptions, 'netns' | 'allNetns' | 'ifaces'>,
  addon: Pick<NativeAddon, 'listLinks' | 'netnsInode'>,
  sources: NameSources,
  {
    rescan = false,
    entries = sources.scan(),
    known,
  }: {
    rescan?: boolean;
    entries?: NetnsEntry[];
    /** The links of a namespace already known (the link watch's), instead of a dump of them. */
    known?: (path: string | null) => readonly LinkFacts[] | undefined;
  } = {},
): Target[] {
  const spaces = selectSpaces(opts, entries, rescan);
  const wanted = opts.ifaces?.length ? new Set(opts.ifaces) : undefined;
  const watched = watchedLink(opts);
  const found = new Set<string>();
  const targets: Target[] = [];
  for (const space of spaces) {
    let links;
    let netnsInode: number;
    try {
      links = known?.(space.path) ?? addon.listLinks(space.path);
      netnsInode = addon.netnsInode(space.path);
    } catch (e) {
      // A namespace that vanished between listing and looking is not ours to fail on.
      if ((opts.allNetns || rescan) && space.path) continue;
      throw fromNative(e);
    }
    for (const link of links) {
      if (!watched(link.name)) continue;
      found.add(link.name);
      targets.push({ netns: space.name, path: space.path, netnsInode, ifindex: link.ifindex, ifname: link.name, kind: link.kind, mtu: link.mtu, up: link.up, master: link.master });
    }
  }
  if (rescan) return targets;
  for (const name of wanted ?? []) {
    if (!found.has(name)) {
      throw new PmtuError(
        'PMTU_ERR_NO_DEVICE',
        `no interface named "${name}" in the selected namespaces`,
        'check the name with `ip link` (or `ip -n NS link`)',
      );
    }
  }
  return targets;
}

/**
 * Removes the tc filters a killed pmtu-watch left in the namespaces about to
 * be watched (before attaching: they would run beside ours, or hold the
 * priority we want), and says so, one line per killed run.
 */
function removeLeftovers(addon: Pick<NativeAddon, 'removeLeftovers'>, targets: Target[], ownNamespace: boolean): string[] {
  const spaces = new Map<string | null, string | null>(); // path -> name
  if (ownNamespace) spaces.set(null, null);
  for (const t of targets) spaces.set(t.path, t.netns);
  const byOwner = new Map<number, { count: number; where: string[] }>();
  const problems: string[] = [];
  for (const [path, name] of spaces) {
    let removed;
    try {
      removed = addon.removeLeftovers(path);
    } catch (e) {
      const err = fromNative(e);
      if (err.code !== 'PMTU_ERR_NETNS') problems.push(`cannot look for leftover tc filters in ${name ?? 'this namespace'}: ${err.message}`);
      continue;
    }
    for (const l of removed) {
      const owner = byOwner.get(l.ownerPid) ?? { count: 0, where: [] };
      const where = `${name ?? 'this namespace'}/${l.ifname}`;
      owner.count++;
      if (!owner.where.includes(where)) owner.where.push(where);
      byOwner.set(l.ownerPid, owner);
    }
  }
  const said = [...byOwner].map(
    ([pid, { count, where }]) =>
      `removed ${count} leftover tc filter${count === 1 ? '' : 's'} of a killed pmtu-watch (${pid ? `pid ${pid}` : 'an older version'}) from ${where.join(', ')}`,
  );
  return [...said, ...problems];
}

const CAP = { NET_ADMIN: 12, SYS_PTRACE: 19, SYS_ADMIN: 21, PERFMON: 38, BPF: 39 } as const;

/** The effective capability test of /proc/self/status's CapEff line; undefined when there is none (not Linux as we know it). */
function effectiveCapabilities(procStatus: string): ((cap: number) => boolean) | undefined {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(procStatus);
  if (!m) return undefined;
  const eff = BigInt(`0x${m[1]}`);
  return (cap) => (eff & (1n << BigInt(cap))) !== 0n;
}

/**
 * What this process lacks to watch (from the CapEff line of
 * /proc/self/status), as one error naming each capability and what needs it;
 * undefined when it has them all. CAP_SYS_ADMIN stands in for CAP_BPF and
 * CAP_PERFMON, as the kernel lets it.
 */
export function missingCapabilities(procStatus: string, otherNamespaces: boolean): PmtuError | undefined {
  const has = effectiveCapabilities(procStatus);
  if (!has) return undefined; // let the kernel say
  const admin = has(CAP.SYS_ADMIN);
  const missing: [string, string][] = [];
  if (!has(CAP.BPF) && !admin) missing.push(['CAP_BPF', 'loading the eBPF programs']);
  if (!has(CAP.PERFMON) && !admin) missing.push(['CAP_PERFMON', 'the tracepoints and their ring buffer']);
  if (!has(CAP.NET_ADMIN)) missing.push(['CAP_NET_ADMIN', 'attaching to tc']);
  if (otherNamespaces && !admin) missing.push(['CAP_SYS_ADMIN', 'entering other network namespaces']);
  if (!missing.length) return undefined;
  return new PmtuError(
    'PMTU_ERR_PERM',
    `not permitted: this process lacks ${missing.map(([cap, what]) => `${cap} (${what})`).join(', ')}`,
    'run as root, or grant them: e.g. systemd AmbientCapabilities=CAP_BPF CAP_PERFMON CAP_NET_ADMIN CAP_SYS_ADMIN',
  );
}

/**
 * What --all-netns will miss for want of a capability it can do without:
 * /proc/PID/ns/net of another user's process (a container running as
 * non-root) needs CAP_SYS_PTRACE, so its namespace is never found.
 */
export function capabilityWarning(procStatus: string, allNetns: boolean): string | undefined {
  const has = effectiveCapabilities(procStatus);
  if (!allNetns || !has || has(CAP.SYS_PTRACE)) return undefined;
  return 'without CAP_SYS_PTRACE the namespaces of processes of other users (containers running as non-root) cannot be found, so they are not watched: grant it to watch them';
}

/** True when attaching failed because the interface or its namespace went away meanwhile. */
function vanished(err: PmtuError, t: Target): boolean {
  if (err.code === 'PMTU_ERR_NO_DEVICE') return true;
  return namespaceGone(err, t);
}

function namespaceGone(err: PmtuError, t: Target): boolean {
  return err.code === 'PMTU_ERR_NETNS' && t.path !== null && !existsSync(t.path);
}

export interface Observer {
  on(event: 'events', listener: (events: PmtuEvent[]) => void): this;
  on(event: 'error', listener: (err: PmtuError) => void): this;
  /** Something could not be watched; the observer goes on without it. */
  on(event: 'warning', listener: (message: string) => void): this;
  /** Once, when close() stops a running observer. */
  on(event: 'close', listener: () => void): this;
  /** A watched interface changed (MTU, master, down/up, added, removed), as the kernel announced it (rtnetlink). */
  on(event: 'link', listener: (ev: LinkEventJson) => void): this;
}

export class Observer extends EventEmitter implements AsyncIterable<PmtuEvent> {
  readonly namers: Namers;
  /** Signals this kernel cannot provide, and interfaces that could not be watched, at start. */
  readonly warnings: string[] = [];
  private native: NativeObserver | undefined;
  private readonly watched = new Map<string, Target>();
  /** Interfaces that could not be attached at the last look. */
  private readonly failing = new Set<string>();
  private readonly rescanTimer: NodeJS.Timeout | undefined;
  /** Link events: rtnetlink notifications from every watched namespace. */
  private linkWatch: LinkWatch | undefined;
  /** Until the constructor returns, warnings are collected in `warnings` (nobody listens yet). */
  private constructed = false;
  readonly addon: NativeAddon;
  private readonly sources: NameSources;
  private readonly selection: Pick<ObserverOptions, 'netns' | 'allNetns' | 'ifaces'>;
  private unknownRecords = 0;
  /** Events async iterators could not queue. */
  private iteratorDropped = 0;
  private readonly maxQueuedEvents: number;
  /** Names, not inodes: a namespace re-created under its name is still the one asked for. */
  private readonly netnsFilter: Set<string> | undefined;
  private readonly ifaceFilter: Set<string> | undefined;
  private readonly onSignal = (signal: NodeJS.Signals) => {
    this.close();
    // Nobody else handles it: die of it as we would have without us.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  private readonly onExit = () => this.close();

  constructor(opts: ObserverOptions = {}) {
    super();
    const addon = (this.addon = opts.addon ?? loadAddon());
    const sources = (this.sources = opts.nameSources ?? hostNameSources());
    this.selection = { netns: opts.netns, allNetns: opts.allNetns, ifaces: opts.ifaces };
    const maxQueued = opts.maxQueuedEvents ?? DEFAULT_MAX_QUEUED_EVENTS;
    if (!Number.isInteger(maxQueued) || maxQueued < 1) {
      throw new PmtuError('PMTU_ERR_INVALID', `maxQueuedEvents must be a positive integer, not ${maxQueued}`);
    }
    this.maxQueuedEvents = maxQueued;
    if (!opts.addon) {
      // Said up front, all at once, rather than as the first step that fails.
      const status = readFileSync('/proc/self/status', 'utf8');
      const missing = missingCapabilities(status, Boolean(opts.allNetns || opts.netns?.length));
      if (missing) throw missing;
      const unseen = capabilityWarning(status, Boolean(opts.allNetns));
      if (unseen) this.warnings.push(unseen);
    }
    // One look at the host names its namespaces and picks the targets.
    const entries = sources.scan();
    const netnsNames = new NetnsNames(sources, entries);
    const targets = resolveTargets(this.selection, addon, sources, { entries });
    const ifaces = new IfaceNames();
    this.namers = {
      netns: netnsNames,
      ifaces,
      reasons: new DropReasons(addon.dropReasonNames()),
      // bpf_ktime_get_ns() and process.hrtime() are both CLOCK_MONOTONIC.
      epochOffsetMs: Date.now() - Number(process.hrtime.bigint()) / 1e6,
    };
    // Tracepoints see every namespace; an explicit selection narrows what we report (by the names it resolved to).
    this.netnsFilter = opts.netns?.length ? new Set([...opts.netns, ...targets.map((t) => t.netns ?? netnsNames.name(t.netnsInode))]) : undefined;
    this.ifaceFilter = opts.ifaces?.length ? new Set(opts.ifaces) : undefined;

    const native = new addon.Observer({
      ...(opts.sizeReportMin ? { sizeReportMin: opts.sizeReportMin } : {}),
      ...(opts.everyFlow ? { everyFlow: true } : {}),
      ...(opts.flowTableEntries ? { flowTableEntries: opts.flowTableEntries } : {}),
    });
    try {
      native.start((records) => this.onBatch(records));
      this.native = native;
      this.warnings.push(...native.warnings());
      this.warnings.push(...removeLeftovers(addon, targets, !opts.netns?.length));
      for (const t of targets) {
        const err = this.attachOne(native, t);
        // A container that stopped since the look: nothing to say. An interface that vanished: a warning. Anything else is fatal.
        if (!err || namespaceGone(err, t)) continue;
        if (err.code !== 'PMTU_ERR_NO_DEVICE') throw err;
        this.warnings.push(err.message);
      }
      const linkWatch = (this.linkWatch = new LinkWatch(addon, watchedLink(this.selection), this.namers.epochOffsetMs, {
        link: (ev) => this.listenerCount('link') > 0 && this.emit('link', ev),
        warn: (message) => (this.constructed ? this.warn(message) : this.warnings.push(message)),
        error: (err) => this.fail(err),
      }));
      const notWatching = linkWatch.start();
      if (notWatching) this.warnings.push(notWatching);
      linkWatch.sync(this.linkSpaces(entries, false));
    } catch (e) {
      this.close();
      throw fromNative(e);
    }
    const every = opts.rescanMs ?? 500; // a container that starts is watched within a second
    if (every > 0) this.rescanTimer = setInterval(() => this.rescan(), every).unref();
    process.once('exit', this.onExit);
    if (!opts.noSignalHandlers) {
      process.once('SIGINT', this.onSignal);
      process.once('SIGTERM', this.onSignal);
    }
    this.constructed = true;
  }

  /** Attaches to one interface; returns the error instead of throwing it. */
  private attachOne(native: NativeObserver, t: Target): PmtuError | undefined {
    try {
      native.attach(t.path, t.ifindex);
    } catch (e) {
      const err = fromNative(e);
      err.message = `cannot watch ${t.netns ?? 'this namespace'}/${t.ifname}: ${err.message}`;
      return err;
    }
    this.watched.set(targetKey(t), t);
    this.namers.ifaces.set(t.netnsInode, t.ifindex, t.ifname);
    return undefined;
  }

  /** The interfaces being watched now. */
  get targets(): Target[] {
    return [...this.watched.values()];
  }

  /**
   * Attaches to interfaces (and namespaces) that appeared since the last look
   * and forgets those that went away: containers come and go.
   */
  rescan(): void {
    const native = this.native;
    if (!native) return;
    let now: Target[];
    let spaces: LinkSpace[];
    try {
      const entries = this.sources.scan();
      this.namers.netns.update(entries);
      spaces = this.linkSpaces(entries, true);
      // The link watch reads a namespace new to it once and follows its changes: the others are not dumped again at every look.
      this.linkWatch?.sync(spaces);
      now = resolveTargets(this.selection, this.addon, this.sources, { rescan: true, entries, known: this.linkWatch?.knownLinks() });
    } catch (e) {
      this.fail(e);
      return;
    }
    const present = new Set(now.map(targetKey));
    for (const [key, t] of this.watched) {
      if (present.has(key)) continue;
      this.watched.delete(key);
      try {
        native.detach(t.path, t.ifindex); // its namespace or device is gone: nothing left to undo
      } catch {
        // already gone with its device
      }
    }
    for (const t of now) {
      const key = targetKey(t);
      if (this.watched.has(key)) continue;
      const err = this.attachOne(native, t);
      // Gone between the listing and the attach (a container stopping): nothing to say.
      if (err && vanished(err, t)) continue;
      // Tried again at every look, but said once.
      if (err && !this.failing.has(key)) this.warn(err.message);
      if (err) this.failing.add(key);
      else this.failing.delete(key);
    }
    for (const key of this.failing) if (!present.has(key)) this.failing.delete(key);
  }

  /** The selected namespaces, as the link watch names them. */
  private linkSpaces(entries: readonly NetnsEntry[], rescan: boolean): LinkSpace[] {
    return selectSpaces(this.selection, entries, rescan).map((space) => {
      const e = entries.find((x) => x.path === space.path);
      return { name: space.name ?? e?.ref ?? this.namers.netns.name(this.addon.netnsInode(null)), path: space.path, ...(e ? { inode: e.inode } : {}) };
    });
  }

  private warn(message: string): void {
    if (this.listenerCount('warning') > 0) this.emit('warning', message);
  }

  private onBatch(records: Buffer): void {
    let events: PmtuEvent[];
    try {
      const decoded = decodeBatch(records);
      this.unknownRecords += decoded.unknown;
      events = decoded.events;
    } catch (e) {
      this.fail(e);
      return;
    }
    if (this.netnsFilter || this.ifaceFilter) events = events.filter((ev) => this.selected(ev));
    if (events.length) this.emit('events', events);
  }

  private selected(ev: PmtuEvent): boolean {
    const names = this.namers.netns;
    if (this.netnsFilter && !this.netnsFilter.has(names.name(ev.netnsInode)) && !this.netnsFilter.has(names.name(ev.mtuNetnsInode)))
      return false;
    if (this.ifaceFilter && !this.ifaceFilter.has(ev.ifname) && !this.ifaceFilter.has(ev.mtuIfname)) return false;
    return true;
  }

  /** Reports a problem that does not stop the observer; never throws. */
  private fail(e: unknown): void {
    const err = fromNative(e);
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else process.stderr.write(`pmtu-watch: ${err.message}\n`);
  }

  /** The JSON line object of an event (the `live --json` contract). */
  json(ev: PmtuEvent): EventJson {
    return eventJson(ev, this.namers);
  }

  attachments(): Attachment[] {
    return this.native?.attachments() ?? [];
  }

  losses(): ObserverLosses {
    const native = this.native?.losses() ?? { ringbufFull: 0, flowTableFull: 0, queueFull: 0, delivered: 0 };
    return { ...native, queueFull: native.queueFull + this.iteratorDropped, unknownRecords: this.unknownRecords };
  }

  /** The kernel's traffic counters of every watched hook, named. */
  traffic(): TrafficJson {
    const out: TrafficJson = { flows: 0, syns: 0, synAcks: 0, ptbs: 0, byHook: [] };
    for (const t of this.native?.traffic() ?? []) {
      out.flows += t.flows;
      out.syns += t.syns;
      out.synAcks += t.synAcks;
      out.ptbs += t.ptbs;
      out.byHook.push({ netns: this.namers.netns.name(t.netnsInode), iface: this.namers.ifaces.name(t.netnsInode, t.ifindex, ''), flows: t.flows, syns: t.syns, synAcks: t.synAcks, ptbs: t.ptbs });
    }
    out.byHook.sort((a, b) => (a.netns < b.netns ? -1 : a.netns > b.netns ? 1 : a.iface < b.iface ? -1 : a.iface > b.iface ? 1 : 0));
    return out;
  }

  get running(): boolean {
    return this.native !== undefined;
  }

  /** Detaches every hook and stops; idempotent. */
  close(): void {
    if (this.rescanTimer) clearInterval(this.rescanTimer);
    this.linkWatch?.close();
    process.removeListener('exit', this.onExit);
    process.removeListener('SIGINT', this.onSignal);
    process.removeListener('SIGTERM', this.onSignal);
    const native = this.native;
    this.native = undefined;
    if (native) {
      try {
        native.stop();
      } catch (e) {
        this.fail(e);
      }
      this.emit('close');
    }
  }

  /**
   * The events one at a time, from now until close() (events already queued
   * are still handed over; then it ends). Each iterator has its own queue of
   * at most maxQueuedEvents; events arriving when it is full are dropped and
   * counted in losses().queueFull. Leaving the loop early stops listening; it
   * does not close the observer.
   */
  [Symbol.asyncIterator](): AsyncIterator<PmtuEvent> {
    let queue: (PmtuEvent | undefined)[] = [];
    let head = 0;
    let ended = false;
    const waiting: ((r: IteratorResult<PmtuEvent>) => void)[] = [];
    const limit = this.maxQueuedEvents;

    const onEvents = (events: PmtuEvent[]) => {
      let i = 0;
      while (i < events.length && waiting.length) waiting.shift()!({ value: events[i++]!, done: false });
      const take = Math.min(events.length - i, limit - (queue.length - head));
      for (let k = 0; k < take; k++) queue.push(events[i + k]);
      this.iteratorDropped += events.length - i - take;
    };
    const end = () => {
      if (ended) return;
      ended = true;
      this.off('events', onEvents);
      this.off('close', end);
      for (const resolve of waiting.splice(0)) resolve({ value: undefined, done: true });
    };
    this.on('events', onEvents);
    this.once('close', end);
    if (!this.running) end();

    return {
      next: (): Promise<IteratorResult<PmtuEvent>> => {
        if (head < queue.length) {
          const value = queue[head]!;
          queue[head++] = undefined;
          if (head === queue.length) {
            queue = [];
            head = 0;
          } else if (head >= 1024 && head * 2 >= queue.length) {
            queue = queue.slice(head);
            head = 0;
          }
          return Promise.resolve({ value, done: false });
        }
        if (ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => waiting.push(resolve));
      },
      return: (): Promise<IteratorResult<PmtuEvent>> => {
        end();
        queue = [];
        head = 0;
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

export function openObserver(opts: ObserverOptions = {}): Observer {
  return new Observer(opts);
}
