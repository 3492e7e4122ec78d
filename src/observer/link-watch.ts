// Link events from rtnetlink notifications: the addon's LinkMonitor holds a
// socket inside each watched namespace and hands over what the kernel
// announces; a LinkTable per namespace turns it into `link` events. A
// namespace is read (listLinks) when it starts being watched and again after
// notifications were lost (an overrun), never on a timer.

import { existsSync } from 'node:fs';

import type { LinkEventJson } from '../contract/event.js';
import { fromNative, type PmtuError } from '../errors.js';
import type { NativeAddon } from './addon.js';
import { epochMsOfUs } from './json.js';
import { LinkTable, type LinkFacts } from './links.js';
import type { LinkBatch, LinkMonitor, LinkMonitorCounters } from '../../native/index.js';

/** A namespace whose links are watched. */
export interface LinkSpace {
  /** Its name in events (`host`, an `ip netns` name, docker:web-1). */
  name: string;
  /** The file to open it by; null: ours. */
  path: string | null;
  /** Its inode as the scan saw it, when known: another inode under the same path is another namespace. */
  inode?: number;
}

export interface LinkWatchHooks {
  link(ev: LinkEventJson): void;
  warn(message: string): void;
  error(err: PmtuError): void;
}

interface Watched {
  id: number;
  path: string | null;
  table: LinkTable;
}

const pathKey = (path: string | null) => path ?? '';

export class LinkWatch {
  private monitor: LinkMonitor | undefined;
  private readonly byId = new Map<number, Watched>();
  /** Namespaces that could not be watched at the last sync: tried again at each, said once. */
  private readonly failing = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  /**
   * @param watched whether a link (by name) is one whose changes are reported
   * @param epochOffsetMs CLOCK_MONOTONIC to epoch, as the observer's records
   */
  constructor(
    private readonly addon: Pick<NativeAddon, 'LinkMonitor' | 'listLinks'>,
    private readonly watched: (name: string) => boolean,
    private readonly epochOffsetMs: number,
    private readonly hooks: LinkWatchHooks,
  ) {}

  /** Starts the addon's monitor; a string saying why link changes will not be reported when it cannot. */
  start(): string | undefined {
    try {
      const monitor = new this.addon.LinkMonitor();
      monitor.start((batch) => this.onBatch(batch));
      this.monitor = monitor;
      return undefined;
    } catch (e) {
      return `link changes are not reported: ${fromNative(e).message}`;
    }
  }

  /** Watches exactly these namespaces (a rescan's): new ones are added, vanished ones let go. */
  sync(spaces: readonly LinkSpace[]): void {
    const monitor = this.monitor;
    if (!monitor) return;
    const wanted = new Map(spaces.map((s) => [pathKey(s.path), s]));
    for (const [id, w] of this.byId) {
      const s = wanted.get(pathKey(w.path));
      if (s && (s.inode === undefined || s.inode === w.table.netnsInode)) {
        w.table.netns = s.name; // a holder identified since: its better name
        continue;
      }
      this.drop(id); // gone, or another namespace under its name: our socket must not keep it alive
    }
    const have = new Set([...this.byId.values()].map((w) => pathKey(w.path)));
    for (const s of spaces) if (!have.has(pathKey(s.path))) this.watch(monitor, s);
    for (const key of this.failing) if (!wanted.has(key)) this.failing.delete(key);
  }

  private watch(monitor: LinkMonitor, s: LinkSpace): void {
    const key = pathKey(s.path);
    let id: number | undefined;
    try {
      const added = monitor.add(s.path);
      id = added.id;
      // Read after subscribing: a change made meanwhile arrives as a notification too.
      const links = this.addon.listLinks(s.path);
      this.byId.set(id, { id, path: s.path, table: new LinkTable(s.name, added.netnsInode, links, this.watched) });
      this.failing.delete(key);
    } catch (e) {
      if (id !== undefined) this.drop(id);
      // A container that stopped since the scan: nothing to say.
      if (s.path !== null && !existsSync(s.path)) return;
      if (!this.failing.has(key)) this.hooks.warn(`cannot watch link changes in ${s.name}: ${fromNative(e).message}`);
      this.failing.add(key);
    }
  }

  private drop(id: number): void {
    this.byId.delete(id);
    try {
      this.monitor?.remove(id);
    } catch {
      // not watched any more: nothing to undo
    }
  }

  private onBatch(batch: LinkBatch): void {
    try {
      const touched = new Set<Watched>();
      for (const n of batch.notices) {
        const w = this.byId.get(n.id);
        if (!w) continue; // let go meanwhile
        touched.add(w);
        const ev = w.table.apply(n.type, n.link, epochMsOfUs(Math.round(n.tsNs / 1000), this.epochOffsetMs));
        if (ev) this.hooks.link(ev);
      }
      for (const o of batch.overruns) {
        const w = this.byId.get(o.id);
        if (!w) continue;
        touched.add(w);
        this.resync(w);
      }
      this.judgeCutOffs(touched);
    } catch (e) {
      this.hooks.error(fromNative(e));
    }
  }

  /** The links of the namespaces it watches now, as the notifications left them: undefined for one it does not watch. */
  knownLinks(): (path: string | null) => LinkFacts[] | undefined {
    const byPath = new Map([...this.byId.values()].map((w) => [pathKey(w.path), w.table]));
    return (path) => byPath.get(pathKey(path))?.facts();
  }

  /** Notifications were lost: the namespace as it is now, against what the table knew. */
  private resync(w: Watched): void {
    let links;
    try {
      links = this.addon.listLinks(w.path);
    } catch {
      return; // gone: the next sync lets it go
    }
    for (const ev of w.table.resync(links, Date.now())) this.hooks.link(ev);
  }

  private judgeCutOffs(tables: Iterable<Watched>): void {
    let recheck: number | undefined;
    for (const w of tables) {
      const { warnings, recheckInMs } = w.table.cutOffs(Date.now());
      for (const m of warnings) this.hooks.warn(m);
      if (recheckInMs !== undefined) recheck = Math.min(recheck ?? Infinity, recheckInMs);
    }
    if (recheck === undefined || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.judgeCutOffs(this.byId.values());
    }, recheck + 1).unref();
  }

  counters(): LinkMonitorCounters {
    return this.monitor?.counters() ?? { notices: 0, overruns: 0, queueFull: 0, namespaces: 0 };
  }

  /** Stops the monitor and closes its sockets; idempotent. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const monitor = this.monitor;
    this.monitor = undefined;
    this.byId.clear();
    this.failing.clear();
    try {
      monitor?.stop();
    } catch (e) {
      this.hooks.error(fromNative(e));
    }
  }
}
