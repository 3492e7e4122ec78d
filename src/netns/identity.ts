// Who holds a network namespace, in its user's terms, read from what the host
// already has: the holding process's cgroup path, and the engines' own files
// (Docker's container configs, the kubelet's pod log directories, podman's
// container list, LXC's and systemd-nspawn's cgroup names). No daemon's API
// needs to be up.

import type { NetnsInfoJson } from '../contract/netns.js';

/** The files identity reads; the host's by default, a fake one in tests. */
export interface IdentitySources {
  /** /proc/PID/cgroup, or undefined when the process is gone. */
  cgroup(pid: number): string | undefined;
  comm(pid: number): string | undefined;
  /** /proc/PID/cmdline split at NULs. */
  cmdline(pid: number): string[] | undefined;
  /** Pids whose comm is `comm` (the engines' daemons). */
  pidsNamed(comm: string): number[];
  readText(path: string): string | undefined;
  listDir(path: string): string[];
}

export type RuntimeHint =
  | { kind: 'docker'; id: string }
  | { kind: 'podman'; id: string }
  | { kind: 'pod'; uid: string; id?: string }
  | { kind: 'lxc'; id: string }
  | { kind: 'nspawn'; name: string };

const HEX64 = '([0-9a-f]{64})';
const CGROUP_RULES: [RegExp, (m: RegExpExecArray) => RuntimeHint][] = [
  // Kubernetes first: a pod's containers also look like containerd's or Docker's.
  [/kubepods[^\n]*?pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?(?:\/(?:[a-z-]+-)?([0-9a-f]{64}))?/, (m) => ({ kind: 'pod', uid: m[1]!.replace(/_/g, '-'), ...(m[2] ? { id: m[2] } : {}) })],
  [new RegExp(`/docker-${HEX64}\\.scope`), (m) => ({ kind: 'docker', id: m[1]! })],
  [new RegExp(`/docker/${HEX64}`), (m) => ({ kind: 'docker', id: m[1]! })],
  [new RegExp(`libpod-(?:conmon-)?${HEX64}`), (m) => ({ kind: 'podman', id: m[1]! })],
  [/\/lxc\.payload\.([^/\n]+)/, (m) => ({ kind: 'lxc', id: m[1]! })],
  [/\/lxc\/([^/\n]+)/, (m) => ({ kind: 'lxc', id: m[1]! })],
  [/\/machine-([^/\n]+)\.scope/, (m) => ({ kind: 'nspawn', name: unescapeUnit(m[1]!) })],
];

/** systemd escapes '-' and other bytes in unit names as \xNN. */
function unescapeUnit(s: string): string {
  return s.replace(/\\x([0-9a-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/**
 * The runtime a cgroup file (v1 or v2) says the process runs under, if any.
 * Only the first line is read (v2's, or v1's first controller: they agree),
 * and of a nested path (an engine inside a container) the innermost match.
 */
export function runtimeFromCgroup(text: string): RuntimeHint | undefined {
  const line = text.split('\n', 1)[0]!;
  for (const [re, make] of CGROUP_RULES) {
    let last: RegExpExecArray | undefined;
    for (const m of line.matchAll(new RegExp(re.source, 'g'))) last = m;
    if (last) return make(last);
  }
  return undefined;
}

/** A dockerd's or podman's option value from its command line (`--opt v` or `--opt=v`). */
export function optionValue(argv: readonly string[], ...names: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    for (const n of names) {
      if (argv[i] === n && i + 1 < argv.length) return argv[i + 1];
      if (argv[i]!.startsWith(`${n}=`)) return argv[i]!.slice(n.length + 1);
    }
  }
  return undefined;
}

const DOCKER_DEFAULT_ROOT = '/var/lib/docker';
const DOCKER_DEFAULT_EXEC_ROOT = '/var/run/docker';

/**
 * Every running dockerd's data root and exec root (its container configs and
 * netns files), as this host sees them: through the engine's own root, so an
 * engine inside a container (Docker-in-Docker) is read too.
 */
export function dockerRoots(src: IdentitySources): { dataRoot: string; execRoot: string }[] {
  const roots = src.pidsNamed('dockerd').flatMap((pid) => {
    const argv = src.cmdline(pid);
    if (!argv) return [];
    const root = `/proc/${pid}/root`;
    return [{ dataRoot: root + (optionValue(argv, '--data-root', '-g', '--graph') ?? DOCKER_DEFAULT_ROOT), execRoot: root + (optionValue(argv, '--exec-root') ?? DOCKER_DEFAULT_EXEC_ROOT) }];
  });
  if (!roots.some((r) => r.dataRoot === DOCKER_DEFAULT_ROOT)) roots.push({ dataRoot: DOCKER_DEFAULT_ROOT, execRoot: DOCKER_DEFAULT_EXEC_ROOT });
  return roots;
}

function dockerName(src: IdentitySources, id: string): string | undefined {
  for (const { dataRoot } of dockerRoots(src)) {
    const text = src.readText(`${dataRoot}/containers/${id}/config.v2.json`);
    if (!text) continue;
    try {
      const name = (JSON.parse(text) as { Name?: unknown }).Name;
      if (typeof name === 'string' && name) return name.replace(/^\//, '');
    } catch {
      // a config being rewritten: the id will do until the next look
    }
  }
  return undefined;
}

/**
 * A container of an engine started with its own --cgroup-parent: a 64-hex
 * cgroup name that one of the running engines has a container config for.
 */
function dockerUnderOwnParent(src: IdentitySources, cgroup: string): RuntimeHint | undefined {
  for (const m of cgroup.matchAll(/\/([0-9a-f]{64})(?=[/\n]|$)/g)) if (dockerName(src, m[1]!) !== undefined) return { kind: 'docker', id: m[1]! };
  return undefined;
}

const PODMAN_LISTS = ['/var/lib/containers/storage/overlay-containers/containers.json'];

function podmanName(src: IdentitySources, id: string): string | undefined {
  for (const path of PODMAN_LISTS) {
    const text = src.readText(path);
    if (!text) continue;
    try {
      const list = JSON.parse(text) as { id?: string; names?: string[] }[];
      const c = list.find((x) => x.id === id);
      if (c?.names?.[0]) return c.names[0];
    } catch {
      // being rewritten
    }
  }
  return undefined;
}

/** /var/log/pods/<namespace>_<name>_<uid>: the kubelet's record of its pods. */
function podByUid(src: IdentitySources, uid: string): { namespace: string; pod: string } | undefined {
  for (const dir of src.listDir('/var/log/pods')) {
    if (!dir.endsWith(`_${uid}`)) continue;
    const rest = dir.slice(0, -uid.length - 1);
    const cut = rest.indexOf('_'); // namespaces cannot hold '_'; pod names cannot either
    if (cut > 0) return { namespace: rest.slice(0, cut), pod: rest.slice(cut + 1) };
  }
  return undefined;
}

function lxcHostname(src: IdentitySources, id: string, pid: number): string | undefined {
  const conf = src.readText(`/etc/pve/lxc/${id}.conf`);
  const m = conf && /^hostname:\s*(\S+)/m.exec(conf);
  if (m) return m[1];
  return src.readText(`/proc/${pid}/root/etc/hostname`)?.trim() || undefined;
}

/**
 * What holds a namespace, from one of its processes: the runtime and the
 * container's name where the host's files tell, else the process itself.
 */
export function identify(src: IdentitySources, pid: number, inode: number): NetnsInfoJson {
  const comm = src.comm(pid);
  // Keys in the contract's order (NetnsInfoJson's): a capture's copy reads back key for key.
  const holder = { pid, ...(comm ? { comm } : {}) };
  const named = (name: string | undefined) => (name ? { name } : {});
  const cg = src.cgroup(pid);
  const hint = cg ? (runtimeFromCgroup(cg) ?? dockerUnderOwnParent(src, cg)) : undefined;
  switch (hint?.kind) {
    case 'docker':
      return { kind: 'docker', inode, ...named(dockerName(src, hint.id)), id: hint.id.slice(0, 12), ...holder };
    case 'podman':
      return { kind: 'podman', inode, ...named(podmanName(src, hint.id)), id: hint.id.slice(0, 12), ...holder };
    case 'pod': {
      const p = podByUid(src, hint.uid);
      return { kind: 'pod', inode, ...(p ? { pod: p.pod, namespace: p.namespace } : {}), uid: hint.uid, ...holder };
    }
    case 'lxc':
      return { kind: 'lxc', inode, ...named(lxcHostname(src, hint.id, pid)), id: hint.id, ...holder };
    case 'nspawn':
      return { kind: 'nspawn', inode, name: hint.name, ...holder };
    default:
      return { kind: 'process', inode, ...holder };
  }
}

/** A runtime identity is worth more than a bare process: the better of two descriptions of one namespace. */
export function better(a: NetnsInfoJson, b: NetnsInfoJson): NetnsInfoJson {
  const rank = (x: NetnsInfoJson) => (x.kind === 'process' ? 0 : x.name || x.pod ? 2 : 1);
  return rank(b) > rank(a) ? b : a;
}
