// Reads the snapshot audit works on: which namespaces exist (named ones,
// the current one, those held only by processes such as containers) and,
// through the addon's rtnetlink dumps, their links, addresses, routes and
// rp_filter settings.

import { readFileSync, readdirSync, statSync } from 'node:fs';

import { fromNative, PmtuError } from '../errors.js';
import type { NativeAddon } from '../observer/addon.js';
import { HOST_NETNS, namedNetnsPaths } from '../observer/names.js';
import type { AuditSnapshot, NetnsConfig, NetnsRef } from './types.js';

export interface Scope {
  /** `ip netns` names; empty with allNetns false: the current namespace. */
  netns: string[];
  /** The current namespace, every named one and those held only by processes. */
  allNetns: boolean;
}

/** A namespace file and what it is called. */
export interface NetnsEntry {
  inode: number;
  /** Path to open it by; null: ours. */
  path: string | null;
  ref: NetnsRef;
  label: string;
}

export interface DiscoverSources {
  /** Named namespaces: name → path. */
  named(): Map<string, string>;
  /** pid → its namespace file, for every process. */
  processes(): Iterable<{ pid: number; path: string }>;
  comm(pid: number): string;
  inode(path: string): number | undefined;
  selfPid: number;
}

export const procSources: DiscoverSources = {
  named: namedNetnsPaths,
  *processes() {
    for (const entry of readdirSync('/proc')) {
      if (/^\d+$/.test(entry)) yield { pid: Number(entry), path: `/proc/${entry}/ns/net` };
    }
  },
  comm(pid) {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      return '?';
    }
  },
  inode(path) {
    try {
      return statSync(path).ino;
    } catch {
      return undefined; // gone, or a process we may not look into
    }
  },
  selfPid: process.pid,
};

/**
 * Every namespace on the machine, once each (by inode), under its best
 * name: an `ip netns` name, else 'host' for the initial one or 'current'
 * for ours, else 'pid N (comm)' of the lowest pid holding it.
 */
export function discover(sources: DiscoverSources = procSources): NetnsEntry[] {
  const entries = new Map<number, NetnsEntry>();
  const selfInode = sources.inode(`/proc/${sources.selfPid}/ns/net`) ?? sources.inode('/proc/self/ns/net');
  const initInode = sources.inode('/proc/1/ns/net');
  for (const [name, path] of [...sources.named()].sort(([a], [b]) => a.localeCompare(b))) {
    const inode = sources.inode(path);
    if (inode === undefined || entries.has(inode)) continue;
    entries.set(inode, { inode, path: inode === selfInode ? null : path, ref: { kind: 'named', name }, label: name });
  }
  if (selfInode !== undefined && !entries.has(selfInode)) {
    entries.set(selfInode, { inode: selfInode, path: null, ref: { kind: 'current' }, label: selfInode === initInode ? HOST_NETNS : 'current' });
  }
  const processes = [...sources.processes()].sort((a, b) => a.pid - b.pid);
  for (const { pid, path } of processes) {
    const inode = sources.inode(path);
    if (inode === undefined || entries.has(inode)) continue;
    const comm = sources.comm(pid);
    entries.set(inode, { inode, path, ref: { kind: 'process', pid, comm }, label: `pid ${pid} (${comm})` });
  }
  return [...entries.values()];
}

/** Which of the discovered namespaces the scope asks for; an unknown name is an error naming those that exist. */
export function selectScope(entries: NetnsEntry[], scope: Scope): Set<number> {
  if (scope.allNetns) return new Set(entries.map((e) => e.inode));
  if (scope.netns.length === 0) {
    const current = entries.find((e) => e.path === null);
    return new Set(current ? [current.inode] : []);
  }
  const chosen = new Set<number>();
  for (const name of scope.netns) {
    const entry = entries.find((e) => e.ref.kind === 'named' && e.ref.name === name);
    if (!entry) {
      const known = entries.flatMap((e) => (e.ref.kind === 'named' ? [e.ref.name] : []));
      throw new PmtuError(
        'PMTU_ERR_NETNS',
        `no network namespace named "${name}"`,
        known.length ? `\`ip netns list\` has: ${known.slice(0, 10).join(', ')}${known.length > 10 ? ', ...' : ''}` : '`ip netns list` shows none',
      );
    }
    chosen.add(entry.inode);
  }
  return chosen;
}

type ConfigAddon = Pick<NativeAddon, 'readNetConfig' | 'readSysctls'>;

/**
 * Reads the namespaces in scope, and those their veth pairs and stacked
 * devices lead into (to compare both ends), into one snapshot. A namespace
 * that vanishes while being read is a problem line, not a failure; failing
 * to read one the user named is an error.
 */
export function collect(loadConfigAddon: () => ConfigAddon, scope: Scope, sources: DiscoverSources = procSources): AuditSnapshot {
  const entries = discover(sources);
  const wanted = selectScope(entries, scope);
  const addon = loadConfigAddon();
  const byInode = new Map(entries.map((e) => [e.inode, e]));
  const peerPaths = entries.map((e) => e.path ?? '/proc/self/ns/net');
  const read = new Map<number, NetnsConfig>();
  const problems: string[] = [];

  const readOne = (entry: NetnsEntry, inScope: boolean): NetnsConfig | undefined => {
    try {
      const config = addon.readNetConfig(entry.path, peerPaths);
      const peers = new Map<number, number>();
      config.peerNsids.forEach((nsid, i) => {
        if (nsid >= 0) peers.set(nsid, entries[i]!.inode);
      });
      const ifnames = config.links.filter((l) => config.addresses.some((a) => a.family === 4 && a.ifindex === l.ifindex)).map((l) => l.name);
      const keys = ['all', ...ifnames];
      const values = addon.readSysctls(
        entry.path,
        keys.map((k) => `net/ipv4/conf/${k}/rp_filter`),
      );
      const rpFilter = new Map<string, number>();
      keys.forEach((k, i) => {
        const v = values[i];
        if (v !== null && v !== undefined && /^\d+$/.test(v)) rpFilter.set(k, Number(v));
      });
      return { inode: entry.inode, label: entry.label, ref: entry.ref, inScope, ...config, peers, rpFilter };
    } catch (e) {
      const err = fromNative(e);
      if (inScope && entry.ref.kind === 'named' && scope.netns.length > 0) throw err;
      problems.push(`${entry.label}: not read: ${err.message}`);
      return undefined;
    }
  };

  for (const inode of wanted) {
    const config = readOne(byInode.get(inode)!, true);
    if (config) read.set(inode, config);
  }
  // Follow links into namespaces not in scope, so that both ends are known.
  const pending = [...read.values()];
  while (pending.length > 0) {
    const ns = pending.pop()!;
    for (const link of ns.links) {
      if (link.linkNetnsid < 0) continue;
      const inode = ns.peers.get(link.linkNetnsid);
      const entry = inode === undefined ? undefined : byInode.get(inode);
      if (!entry || read.has(entry.inode)) continue;
      const config = readOne(entry, false);
      if (config) {
        read.set(entry.inode, config);
        pending.push(config);
      }
    }
  }
  return { namespaces: [...read.values()], problems };
}
