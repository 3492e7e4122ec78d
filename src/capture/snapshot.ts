// The incident bundle's snapshot: per network namespace, what explains its
// MTU behaviour — links and their MTUs, the rp_filter and PMTU sysctls,
// routes, the path MTUs the kernel cached, and route lookups for the
// destinations PTBs were about.
//
// Everything comes from the addon, the same reader audit uses: links,
// routes and the path MTUs the kernel cached (rtnetlink), route lookups, and
// sysctls (/proc/sys read by a thread that entered the namespace:
// /proc/sys/net shows the reader's namespace). Whatever cannot be read is
// said in `problems`; a snapshot never fails a recording.
//
// IPv4 lists a cached PMTU (`ip route show cache`) only once a route lookup
// has bound it, so the lookups run before the cache dump.

import type { RouteEntry } from '../../native/index.js';
import type { NativeAddon } from '../observer/addon.js';
import type { Link, Moment, NamespaceState, Route, RouteLookup, Snapshot, Sysctl } from './types.js';

export interface SnapshotDeps {
  addon: Pick<NativeAddon, 'readNetConfig' | 'routeGet' | 'netnsInode' | 'readSysctls'>;
}

/** A namespace to look at: its name as events name it, and the file to enter it by (null: ours). */
export interface Space {
  name: string;
  path: string | null;
}

/** At most this many namespaces, routes per namespace, and lookups per namespace. */
export const LIMITS = { namespaces: 64, routes: 1000, lookups: 32 } as const;

const SYSCTLS = ['net/ipv4/tcp_mtu_probing', 'net/ipv4/tcp_base_mss', 'net/ipv4/ip_no_pmtu_disc', 'net/ipv4/route/min_pmtu', 'net/ipv4/route/mtu_expires', 'net/ipv4/ip_forward'];

/** /proc/sys path → dotted sysctl name (a '.' in an interface name becomes '/', as sysctl(8) shows it). */
function dotted(path: string): string {
  return path
    .split('/')
    .map((part) => part.replace(/\./g, '/'))
    .join('.');
}

function sysctlPaths(links: Link[]): string[] {
  const confs = ['all', 'default', ...links.map((l) => l.name)];
  return [...confs.map((c) => `net/ipv4/conf/${c}/rp_filter`), ...SYSCTLS];
}

function readSysctls(space: Space, paths: string[], deps: SnapshotDeps, problems: string[]): Sysctl[] {
  let values: (string | null)[];
  try {
    values = deps.addon.readSysctls(space.path, paths);
  } catch (e) {
    problems.push(`sysctls not read: ${(e as Error).message}`);
    return [];
  }
  // Absent ones (not on this kernel, or the interface went away) are left out.
  return paths.flatMap((p, i) => {
    const value = values[i];
    return value === null || value === undefined ? [] : [{ name: dotted(p), value }];
  });
}

const RT_TABLE_MAIN = 254;

/** A destination as `ip route` writes it: `default`, a bare host address, else ADDRESS/LEN. */
function dstText(r: RouteEntry): string {
  if (r.dstLen === 0) return 'default';
  return r.dstLen === (r.family === 4 ? 32 : 128) ? r.dst : `${r.dst}/${r.dstLen}`;
}

/** The addon's routes as a snapshot keeps them: the main table's, and the cached path MTUs. Exported for tests. */
export function snapshotRoutes(routes: readonly RouteEntry[], cached: readonly RouteEntry[], links: readonly Link[]): Route[] {
  const one = (r: RouteEntry, isCached: boolean): Route => {
    const out: Route = { dst: dstText(r), dev: links.find((l) => l.ifindex === r.oif)?.name ?? (r.oif ? `if${r.oif}` : ''), cached: isCached, family: r.family };
    if (r.gateway) out.gateway = r.gateway;
    if (r.prefsrc) out.prefsrc = r.prefsrc;
    if (r.priority) out.metric = r.priority;
    if (r.mtu) out.mtu = r.mtu;
    if (isCached) out.expires = r.expires;
    return out;
  };
  return [...cached.map((r) => one(r, true)), ...routes.filter((r) => r.table === RT_TABLE_MAIN).map((r) => one(r, false))];
}

async function takeOne(space: Space, dsts: readonly string[], deps: SnapshotDeps): Promise<NamespaceState> {
  const problems: string[] = [];
  let inode = 0;
  try {
    inode = deps.addon.netnsInode(space.path);
  } catch (e) {
    problems.push(`not read: ${(e as Error).message}`);
    return { name: space.name, inode, links: [], sysctls: [], routes: [], lookups: [], problems };
  }
  // The lookups first: IPv4 lists a cached PMTU only once a lookup has bound it.
  const looked: { dst: string; found: boolean; mtu: number; expires: number; ifindex: number }[] = [];
  for (const dst of dsts.slice(0, LIMITS.lookups)) {
    try {
      looked.push({ dst, ...deps.addon.routeGet(space.path, dst) });
    } catch (e) {
      problems.push(`route to ${dst} not looked up: ${(e as Error).message}`);
    }
  }
  let links: Link[] = [];
  let routes: Route[] = [];
  try {
    const config = deps.addon.readNetConfig(space.path, []);
    links = config.links.map((l) => ({ ifindex: l.ifindex, name: l.name, mtu: l.mtu, up: l.up }));
    routes = snapshotRoutes(config.routes, config.cached, links);
  } catch (e) {
    problems.push(`links and routes not read: ${(e as Error).message}`);
  }
  if (routes.length > LIMITS.routes) {
    problems.push(`${routes.length} routes: only the first ${LIMITS.routes} kept`);
    routes.length = LIMITS.routes; // the cached path MTUs, which matter most, come first
  }
  const lookups: RouteLookup[] = looked.map((r) => ({ dst: r.dst, found: r.found, mtu: r.mtu, expires: r.expires, dev: links.find((l) => l.ifindex === r.ifindex)?.name ?? (r.ifindex ? `if${r.ifindex}` : '') }));
  const sysctls = readSysctls(space, sysctlPaths(links), deps, problems);
  return { name: space.name, inode, links, sysctls, routes, lookups, problems };
}

/**
 * A snapshot of these namespaces (at most LIMITS.namespaces), looking up the
 * routes to `lookups` (namespace name → destinations) in each.
 */
export async function takeSnapshot(
  moment: Moment,
  spaces: readonly Space[],
  lookups: ReadonlyMap<string, readonly string[]>,
  deps: SnapshotDeps,
  now = Date.now,
): Promise<Snapshot> {
  const time = now();
  const namespaces: NamespaceState[] = [];
  const todo = spaces.slice(0, LIMITS.namespaces);
  for (const s of todo) namespaces.push(await takeOne(s, lookups.get(s.name) ?? [], deps));
  if (spaces.length > todo.length) namespaces.at(-1)?.problems.push(`${spaces.length - todo.length} more namespaces not looked at (at most ${LIMITS.namespaces})`);
  return { moment, time, namespaces };
}
