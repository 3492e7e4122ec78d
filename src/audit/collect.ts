// Reads the snapshot audit works on: which namespaces exist (named ones,
// the current one, those held only by processes such as containers) and,
// through the addon's rtnetlink dumps, their links, addresses, routes and
// rp_filter settings.

import { fromNative, PmtuError } from '../errors.js';
import { NetnsDiscovery, selectNetns, type HostSources, type NetnsEntry } from '../netns/discovery.js';
import type { NativeAddon } from '../observer/addon.js';
import { DECAP_KINDS, type AuditSnapshot, type NetnsConfig } from './types.js';

export interface Scope {
  /** Namespaces as --netns names them (`ip netns` names, docker:NAME, pid:N, ...); empty with allNetns false: the current namespace. */
  netns: string[];
  /** Every namespace: the current one, named ones, containers', those held only by processes. */
  allNetns: boolean;
}

/** Which of the discovered namespaces the scope asks for; an unknown name is an error naming those that exist. */
export function selectScope(entries: NetnsEntry[], scope: Scope, src?: Pick<HostSources, 'inode'>): Set<number> {
  if (scope.allNetns) return new Set(entries.map((e) => e.inode));
  if (scope.netns.length === 0) {
    const current = entries.find((e) => e.path === null);
    return new Set(current ? [current.inode] : []);
  }
  const chosen = new Set<number>();
  for (const name of scope.netns) {
    const entry = selectNetns(entries, name, src);
    if (!entry) {
      const known = entries.filter((e) => e.info.kind !== 'host' && e.info.kind !== 'current').map((e) => e.ref);
      throw new PmtuError(
        'PMTU_ERR_NETNS',
        `no network namespace named "${name}"`,
        known.length ? `there are: ${known.slice(0, 10).join(', ')}${known.length > 10 ? ', ...' : ''}` : '`ip netns list` shows none, and no container or process holds one',
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
export function collect(loadConfigAddon: () => ConfigAddon, scope: Scope, sources?: HostSources): AuditSnapshot {
  const entries = new NetnsDiscovery(sources).scan();
  const wanted = selectScope(entries, scope, sources);
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
      // Interfaces with IPv4 addresses, and IPv4-decapsulating tunnels, which have none (ipip0, tunl0, gre0):
      // rp_filter checks what comes out of them. `default` is what interfaces made later inherit (Calico's cali*).
      const ifnames = config.links
        .filter((l) => DECAP_KINDS.has(l.kind) || config.addresses.some((a) => a.family === 4 && a.ifindex === l.ifindex))
        .map((l) => l.name);
      const keys = ['all', 'default', ...ifnames];
      const values = addon.readSysctls(
        entry.path,
        keys.map((k) => `net/ipv4/conf/${k}/rp_filter`),
      );
      const rpFilter = new Map<string, number>();
      keys.forEach((k, i) => {
        const v = values[i];
        if (v !== null && v !== undefined && /^\d+$/.test(v)) rpFilter.set(k, Number(v));
      });
      return { inode: entry.inode, label: entry.ref, info: entry.info, inScope, ...config, peers, rpFilter };
    } catch (e) {
      const err = fromNative(e);
      if (inScope && scope.netns.length > 0) throw err;
      problems.push(`${entry.ref}: not read: ${err.message}`);
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
