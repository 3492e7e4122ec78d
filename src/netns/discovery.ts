// The one namespace discovery: every network namespace on the host, once
// each (by inode), with a file to open it by and a name its user knows.
// Sources: `ip netns`'s directories, the engines' own netns directories
// (Docker's exec root), and every process's /proc/PID/ns/net (containers,
// `unshare -n`, LXC and runc leave theirs held only by a process).

import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';

import type { NetnsInfoJson } from '../contract/netns.js';
import { netnsRef } from '../contract/netns.js';
import { better, dockerRoots, identify, type IdentitySources } from './identity.js';

/** Where `ip netns` keeps its namespace files. */
export const NETNS_DIRS = ['/run/netns', '/var/run/netns'];

export interface HostSources extends IdentitySources {
  /** Entries of a directory, [] when it is not there. */
  listDir(path: string): string[];
  /** The inode of the namespace a file (or /proc/PID/ns/net) refers to; undefined when gone or not ours to see. */
  inode(path: string): number | undefined;
  /** Numeric entries of /proc. */
  pids(): number[];
  selfPid: number;
}

export interface NetnsEntry {
  inode: number;
  /** A file to open it by; null: the namespace this process runs in. */
  path: string | null;
  /** The stable name (events' `netns`): `host`, an `ip netns` name, `docker:web-1`, `pid:812`. */
  ref: string;
  info: NetnsInfoJson;
}

function tryRead(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

export const hostSources: HostSources = {
  listDir(path) {
    try {
      return readdirSync(path);
    } catch {
      return [];
    }
  },
  inode(path) {
    try {
      // A process's link names its namespace ("net:[4026531840]"): a third cheaper than stat'ing through it.
      if (path.startsWith('/proc/')) {
        const m = /^net:\[(\d+)\]$/.exec(readlinkSync(path));
        if (m) return Number(m[1]);
      }
      return statSync(path).ino;
    } catch {
      return undefined;
    }
  },
  pids() {
    const out: number[] = [];
    for (const e of hostSources.listDir('/proc')) {
      const c = e.charCodeAt(0);
      if (c >= 48 && c <= 57) out.push(Number(e));
    }
    return out;
  },
  cgroup: (pid) => tryRead(`/proc/${pid}/cgroup`),
  comm: (pid) => tryRead(`/proc/${pid}/comm`)?.trim(),
  cmdline(pid) {
    const t = tryRead(`/proc/${pid}/cmdline`);
    return t === undefined ? undefined : t.split('\0').filter(Boolean);
  },
  pidsNamed(comm) {
    return hostSources.pids().filter((p) => hostSources.comm(p) === comm);
  },
  readText: tryRead,
  selfPid: process.pid,
};

/** Named namespaces (`ip netns`): name → file; the first directory wins. */
export function namedNetnsPaths(src: Pick<HostSources, 'listDir'> = hostSources): Map<string, string> {
  const named = new Map<string, string>();
  for (const dir of NETNS_DIRS) for (const name of src.listDir(dir)) if (!named.has(name)) named.set(name, join(dir, name));
  return named;
}

/** The file of a named namespace, if it exists. */
export function namedNetnsPath(name: string, src: Pick<HostSources, 'listDir'> = hostSources): string | undefined {
  return namedNetnsPaths(src).get(name);
}

/** The namespace files the running Docker engines keep (one per container sandbox). */
function engineNetnsPaths(src: HostSources): string[] {
  return dockerRoots(src).flatMap(({ execRoot }) => src.listDir(join(execRoot, 'netns')).map((f) => join(execRoot, 'netns', f)));
}

const MAX_RETRIES = 5;
/** Scans a process is looked at every time after it first appears. */
const YOUNG_SCANS = 10;
/** After that, its namespace is looked at again once in this many scans (4 s at the observer's 500 ms). */
const RECHECK_EVERY = 8;

/**
 * Scans the host, remembering what it learned: a namespace's identity is
 * worked out once (its holders' cgroups read), a process's comm once, and an
 * old process's namespace is read again only in turns (netnsOf).
 */
export class NetnsDiscovery {
  private known = new Map<number, NetnsEntry>();
  private readonly hostInode: number | undefined;
  private readonly hostPath: string;
  private readonly selfInode: number | undefined;
  private comms = new Map<number, string | undefined>();
  private pidNetns = new Map<number, { inode: number | undefined; since: number }>();
  private scans = 0;
  /** Namespaces known only as a process's, or a container's without its name yet, are looked at again a few times: a container's first process may not be in its cgroup yet. */
  private readonly retries = new Map<number, number>();
  private readonly src: HostSources;

  constructor(sources: HostSources = hostSources) {
    const comms = () => this.comms;
    // The engines' daemons are found among the processes this scan listed, by the comm it remembers.
    this.src = {
      ...sources,
      pidsNamed: (comm) => [...comms()].filter(([, c]) => c === comm).map(([p]) => p),
    };
    // The initial namespace: pid 1's, or (where pid 1 may not be looked into, as in some sandboxes) kthreadd's, which never leaves it.
    const viaInit = sources.inode('/proc/1/ns/net');
    this.hostPath = viaInit !== undefined || sources.comm(2) !== 'kthreadd' ? '/proc/1/ns/net' : '/proc/2/ns/net';
    this.hostInode = viaInit ?? (this.hostPath === '/proc/2/ns/net' ? sources.inode(this.hostPath) : undefined);
    this.selfInode = sources.inode(`/proc/${sources.selfPid}/ns/net`);
  }

  /**
   * A process's namespace: looked at every scan while it is young (a new
   * process joins or makes its namespace early: runc, unshare, ip netns
   * exec), then once every RECHECK_EVERY scans, a different share each time:
   * a host of a thousand processes costs a tenth of the stats.
   */
  private netnsOf(pid: number, scan: number): number | undefined {
    const known = this.pidNetns.get(pid);
    if (known && scan - known.since >= YOUNG_SCANS && (pid + scan) % RECHECK_EVERY !== 0) return known.inode;
    return this.src.inode(`/proc/${pid}/ns/net`);
  }

  private listProcesses(raw: HostSources): number[] {
    const pids = raw.pids().sort((a, b) => a - b);
    const next = new Map<number, string | undefined>();
    for (const pid of pids) next.set(pid, this.comms.has(pid) ? this.comms.get(pid) : raw.comm(pid));
    this.comms = next;
    return pids;
  }

  /** Every namespace now: ours first, then named ones by name, then the rest by the lowest pid holding it. */
  scan(): NetnsEntry[] {
    const src = this.src;
    const pids = this.listProcesses(src);
    const found = new Map<number, NetnsEntry>();
    const keep = (inode: number, make: () => NetnsEntry) => {
      if (found.has(inode)) return;
      const old = this.known.get(inode);
      found.set(inode, old ?? make());
    };
    const named = [...namedNetnsPaths(src)].sort(([a], [b]) => a.localeCompare(b)).flatMap(([name, path]) => {
      const inode = src.inode(path);
      return inode === undefined ? [] : [{ name, path, inode }];
    });
    // Ours is read without entering it: under its `ip netns` name when it has one (fixes can use it), else host or current.
    const self = this.selfInode;
    if (self !== undefined) {
      const mine = named.find((n) => n.inode === self);
      if (self === this.hostInode) keep(self, () => ({ inode: self, path: null, ref: 'host', info: { kind: 'host', inode: self } }));
      else if (mine) keep(self, () => ({ inode: self, path: null, ref: mine.name, info: { kind: 'named', inode: self, name: mine.name } }));
      else keep(self, () => ({ inode: self, path: null, ref: 'current', info: { kind: 'current', inode: self } }));
    }
    if (this.hostInode !== undefined) keep(this.hostInode, () => ({ inode: this.hostInode!, path: this.hostPath, ref: 'host', info: { kind: 'host', inode: this.hostInode! } }));
    for (const { name, path, inode } of named) keep(inode, () => ({ inode, path, ref: name, info: { kind: 'named', inode, name } }));
    // Held by processes: identified by the lowest pid whose cgroup names a runtime (else the lowest pid).
    const holders = new Map<number, number[]>();
    const scan = ++this.scans;
    const seen = new Map<number, { inode: number | undefined; since: number }>();
    for (const pid of pids) {
      const inode = this.netnsOf(pid, scan);
      seen.set(pid, { inode, since: this.pidNetns.get(pid)?.since ?? scan });
      if (inode === undefined || found.has(inode)) continue;
      const list = holders.get(inode);
      if (list) list.push(pid);
      else holders.set(inode, [pid]);
    }
    this.pidNetns = seen;
    for (const [inode, pids] of holders) {
      const old = this.known.get(inode);
      const unsure = old && (old.info.kind === 'process' || !(old.info.name || old.info.pod));
      if (old && old.info.pid !== undefined && pids.includes(old.info.pid) && !(unsure && (this.retries.get(inode) ?? 0) < MAX_RETRIES)) {
        found.set(inode, old);
        continue;
      }
      if (unsure) this.retries.set(inode, (this.retries.get(inode) ?? 0) + 1);
      let info = identify(src, pids[0]!, inode);
      for (const pid of pids.slice(1, 8)) {
        if (info.kind !== 'process' && (info.name || info.pod)) break;
        info = better(info, identify(src, pid, inode));
      }
      // A second namespace inside one container (a process that unshared its own) is that process's, not the container's.
      const ref = netnsRef(info);
      if ([...found.values()].some((e) => e.ref === ref)) info = { kind: 'process', inode, pid: info.pid!, ...(info.comm ? { comm: info.comm } : {}) };
      found.set(inode, { inode, path: `/proc/${info.pid}/ns/net`, ref: netnsRef(info), info });
    }
    // Engine files with no process in them (a sandbox between its containers).
    for (const path of engineNetnsPaths(src)) {
      const inode = src.inode(path);
      if (inode === undefined) continue;
      keep(inode, () => ({ inode, path, ref: `docker:${path.split('/').pop()!.slice(0, 12)}`, info: { kind: 'docker', inode, id: path.split('/').pop()!.slice(0, 12) } }));
    }
    this.known = found;
    for (const inode of this.retries.keys()) if (!found.has(inode)) this.retries.delete(inode);
    return [...found.values()];
  }

  /** What the last scan knew of an inode. */
  entry(inode: number): NetnsEntry | undefined {
    return this.known.get(inode);
  }
}

/**
 * The namespaces a `--netns` selector names: an `ip netns` name, a stable
 * ref (`docker:web-1`, `pod:default/web-0`, `lxc:101`, `pid:812`), a
 * container's or pod's bare name, or a path to a namespace file.
 */
export function selectNetns(entries: readonly NetnsEntry[], selector: string, src: Pick<HostSources, 'inode'> = hostSources): NetnsEntry | undefined {
  const exact = entries.find((e) => e.ref === selector);
  if (exact) return exact;
  if (selector.startsWith('/')) {
    const inode = src.inode(selector);
    const e = inode === undefined ? undefined : entries.find((x) => x.inode === inode);
    return e ?? (inode === undefined ? undefined : { inode, path: selector, ref: `netns:${inode}`, info: { kind: 'process', inode } });
  }
  const pid = /^pid:(\d+)$/.exec(selector);
  if (pid) {
    const inode = src.inode(`/proc/${pid[1]}/ns/net`);
    return inode === undefined ? undefined : (entries.find((e) => e.inode === inode) ?? { inode, path: `/proc/${pid[1]}/ns/net`, ref: selector, info: { kind: 'process', inode, pid: Number(pid[1]) } });
  }
  // A bare container or pod name, or a container id's prefix.
  const bare = entries.filter((e) => e.info.kind !== 'named' && (e.info.name === selector || e.info.pod === selector || (selector.length >= 4 && e.info.id?.startsWith(selector))));
  return bare.length === 1 ? bare[0] : undefined;
}
