// The incident bundle's snapshot: per network namespace, what explains its
// MTU behaviour — links and their MTUs, the rp_filter and PMTU sysctls,
// routes, the path MTUs the kernel cached, and route lookups for the
// destinations PTBs were about.
//
// Links, lookups and sysctls come from the addon (rtnetlink, and /proc/sys
// read by a thread that entered the namespace: /proc/sys/net shows the
// reader's namespace). Routes come from `ip -j route` (`ip -n NAME`), for
// the cached PMTUs `ip route show cache` lists. Whatever cannot be read is
// said in `problems`; a snapshot never fails a recording.
//
// IPv4 lists a cached PMTU (`ip route show cache`) only once a route lookup
// has bound it, so the lookups run before the cache dump.

import { execFile } from 'node:child_process';

import type { NativeAddon } from '../observer/addon.js';
import type { Link, Moment, NamespaceState, Route, RouteLookup, Snapshot, Sysctl } from './types.js';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Why it did not run (not found, timed out). */
  error?: string;
}

export interface SnapshotDeps {
  addon: Pick<NativeAddon, 'listLinks' | 'routeGet' | 'netnsInode' | 'readSysctls'>;
  /** Runs a command; never rejects. */
  run?: (argv: string[]) => Promise<RunResult>;
}

/** A namespace to look at: its name as events name it, and the file to enter it by (null: ours). */
export interface Space {
  name: string;
  path: string | null;
}

/** At most this many namespaces, routes per namespace, and lookups per namespace. */
export const LIMITS = { namespaces: 64, routes: 1000, lookups: 32 } as const;

const SYSCTLS = ['net/ipv4/tcp_mtu_probing', 'net/ipv4/tcp_base_mss', 'net/ipv4/ip_no_pmtu_disc', 'net/ipv4/route/min_pmtu', 'net/ipv4/route/mtu_expires', 'net/ipv4/ip_forward'];

export function runCommand(argv: string[]): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { timeout: 5000, maxBuffer: 8 * 1024 * 1024, env: { ...process.env, LC_ALL: 'C' } }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { killed?: boolean; code?: unknown }) | null;
      if (e && typeof e.code === 'string') resolve({ code: null, stdout, stderr, error: e.code === 'ENOENT' ? `${argv[0]}: not found` : e.code });
      else if (e?.killed) resolve({ code: null, stdout, stderr, error: `${argv[0]}: timed out` });
      else resolve({ code: e ? ((e.code as number | undefined) ?? 1) : 0, stdout, stderr });
    });
  });
}


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

interface IpRoute {
  dst?: unknown;
  gateway?: unknown;
  dev?: unknown;
  prefsrc?: unknown;
  metric?: unknown;
  expires?: unknown;
  metrics?: unknown;
}

function mtuOf(metrics: unknown): number | undefined {
  if (!Array.isArray(metrics)) return undefined;
  for (const m of metrics) {
    const v = (m as { mtu?: unknown } | null)?.mtu;
    if (typeof v === 'number') return v;
    if (Array.isArray(v)) {
      const n = v.find((x) => typeof x === 'number');
      if (typeof n === 'number') return n; // ["lock", 1280]
    }
  }
  return undefined;
}

/** Routes from `ip -j route show` output. Exported for tests. */
export function parseRoutes(json: string, family: 4 | 6, cached: boolean): Route[] {
  let list: unknown;
  try {
    list = JSON.parse(json || '[]');
  } catch {
    return [];
  }
  if (!Array.isArray(list)) return [];
  return list.flatMap((x: IpRoute) => {
    if (typeof x !== 'object' || x === null || typeof x.dst !== 'string') return [];
    const r: Route = { dst: x.dst, dev: typeof x.dev === 'string' ? x.dev : '', cached, family };
    if (typeof x.gateway === 'string') r.gateway = x.gateway;
    if (typeof x.prefsrc === 'string') r.prefsrc = x.prefsrc;
    if (typeof x.metric === 'number') r.metric = x.metric;
    const mtu = mtuOf(x.metrics);
    if (mtu !== undefined) r.mtu = mtu;
    if (typeof x.expires === 'number') r.expires = x.expires;
    return [r];
  });
}

async function readRoutes(space: Space, deps: SnapshotDeps, problems: string[]): Promise<Route[]> {
  const run = deps.run ?? runCommand;
  // `ip -n` knows only `ip netns` names; a container's namespace is entered by its file.
  const named = space.path !== null && /^\/(var\/)?run\/netns\/[^/]+$/.test(space.path);
  const enter = space.path === null ? [] : named ? [] : ['nsenter', `--net=${space.path}`];
  const ns = space.path !== null && named ? ['-n', space.path.split('/').at(-1)!] : [];
  const shows: [4 | 6, boolean, string[]][] = [
    [4, false, ['route', 'show', 'table', 'main']],
    [6, false, ['route', 'show', 'table', 'main']],
    [4, true, ['route', 'show', 'cache']],
    [6, true, ['route', 'show', 'cache']],
  ];
  const results = await Promise.all(shows.map(([fam, , args]) => run([...enter, 'ip', ...ns, '-j', `-${fam}`, ...args])));
  const routes: Route[] = [];
  results.forEach((r, i) => {
    const [fam, cached] = shows[i]!;
    if (r.error || r.code !== 0) {
      const why = r.error ?? ((r.stderr.split('\n')[0] ?? '').trim() || `exit ${r.code}`);
      problems.push(`IPv${fam} ${cached ? 'cached routes' : 'routes'} not read: ${why}`);
      return;
    }
    routes.push(...parseRoutes(r.stdout, fam, cached));
  });
  if (routes.length > LIMITS.routes) {
    problems.push(`${routes.length} routes: only the first ${LIMITS.routes} kept`);
    // Cached PMTUs are what matters most: keep them first.
    routes.sort((a, b) => Number(b.cached) - Number(a.cached));
    routes.length = LIMITS.routes;
  }
  return routes;
}

async function takeOne(space: Space, dsts: readonly string[], deps: SnapshotDeps): Promise<NamespaceState> {
  const problems: string[] = [];
  let links: Link[] = [];
  let inode = 0;
  try {
    inode = deps.addon.netnsInode(space.path);
    links = deps.addon.listLinks(space.path).map((l) => ({ ifindex: l.ifindex, name: l.name, mtu: l.mtu, up: l.up }));
  } catch (e) {
    problems.push(`links not read: ${(e as Error).message}`);
  }
  const lookups: RouteLookup[] = [];
  for (const dst of dsts.slice(0, LIMITS.lookups)) {
    try {
      const r = deps.addon.routeGet(space.path, dst);
      lookups.push({ dst, found: r.found, mtu: r.mtu, expires: r.expires, dev: links.find((l) => l.ifindex === r.ifindex)?.name ?? (r.ifindex ? `if${r.ifindex}` : '') });
    } catch (e) {
      problems.push(`route to ${dst} not looked up: ${(e as Error).message}`);
    }
  }
  const sysctls = readSysctls(space, sysctlPaths(links), deps, problems);
  const routes = await readRoutes(space, deps, problems);
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
  // A few at a time: each runs five short processes.
  for (let i = 0; i < todo.length; i += 8) {
    namespaces.push(...(await Promise.all(todo.slice(i, i + 8).map((s) => takeOne(s, lookups.get(s.name) ?? [], deps)))));
  }
  if (spaces.length > todo.length) namespaces.at(-1)?.problems.push(`${spaces.length - todo.length} more namespaces not looked at (at most ${LIMITS.namespaces})`);
  return { moment, time, namespaces };
}
