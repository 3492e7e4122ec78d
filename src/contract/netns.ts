// What a network namespace is called where it leaves the process: the
// stable `netns` string of events, verdicts and findings, and the
// `netnsInfo` object beside it for a container's or a process's namespace.

/** Who holds a namespace, as its user knows it. */
export type NetnsKind = 'host' | 'current' | 'named' | 'docker' | 'pod' | 'podman' | 'lxc' | 'nspawn' | 'process';

export interface NetnsInfoJson {
  kind: NetnsKind;
  /** The namespace's inode: its identity on this host while it lives. */
  inode: number;
  /** Container name, `ip netns` name, LXC hostname, machine name. */
  name?: string;
  /** Container id (12 hex digits for Docker and podman), the CT id for LXC. */
  id?: string;
  /** Kubernetes: the pod's name and namespace, and the pod's UID. */
  pod?: string;
  namespace?: string;
  uid?: string;
  /** A process holding it (the container's init): what `nsenter -t` needs. */
  pid?: number;
  comm?: string;
}

/**
 * The stable, machine-readable name: `host`, an `ip netns` name as it is,
 * `docker:NAME`, `pod:NAMESPACE/NAME`, `podman:NAME`, `lxc:ID`,
 * `nspawn:NAME`, else `pid:N`.
 */
export function netnsRef(info: NetnsInfoJson): string {
  switch (info.kind) {
    case 'host':
      return 'host';
    case 'current':
      return 'current';
    case 'named':
      return info.name ?? `netns:${info.inode}`;
    case 'docker':
    case 'podman':
    case 'nspawn':
      return `${info.kind}:${info.name ?? info.id ?? info.inode}`;
    case 'pod':
      return `pod:${info.namespace ?? '?'}/${info.pod ?? info.uid ?? info.inode}`;
    case 'lxc':
      return `lxc:${info.id ?? info.name ?? info.inode}`;
    case 'process':
      return info.pid !== undefined ? `pid:${info.pid}` : `netns:${info.inode}`;
  }
}

/** The short form for a screen: `web-1`, `pod default/web-0`, `CT 101 (db)`, `pid 812 (httpd)`. */
export function netnsShort(info: NetnsInfoJson): string {
  switch (info.kind) {
    case 'docker':
    case 'podman':
    case 'nspawn':
      return info.name ?? info.id ?? String(info.inode);
    case 'pod':
      return `pod ${info.namespace ?? '?'}/${info.pod ?? info.uid}`;
    case 'lxc':
      return `CT ${info.id ?? '?'}${info.name ? ` (${info.name})` : ''}`;
    case 'process':
      return info.pid !== undefined ? `pid ${info.pid}${info.comm ? ` (${info.comm})` : ''}` : `netns:${info.inode}`;
    default:
      return netnsRef(info);
  }
}

/** The short form of a stable name, for a screen: `web-1`, `pod default/web-0`, `CT 101`, `pid 812`. */
export function shortRef(ref: string): string {
  const at = ref.indexOf(':');
  if (at < 0) return ref;
  const [kind, name] = [ref.slice(0, at), ref.slice(at + 1)];
  switch (kind) {
    case 'docker':
    case 'podman':
    case 'nspawn':
      return name;
    case 'pod':
      return `pod ${name}`;
    case 'lxc':
      return `CT ${name}`;
    case 'pid':
      return `pid ${name}`;
    default:
      return ref;
  }
}

/**
 * `cmd` (a command line such as `ip link set dev eth0 mtu 1450`) spelled to
 * run in the namespace `ref` names, the way its user reaches it. Changing a
 * container's network needs CAP_NET_ADMIN, which `docker exec` does not
 * give: a container is entered from the host by its pid, found by its name.
 * A pod's is what kubectl reaches (its interfaces' lasting MTU is the CNI's).
 */
export function inNetns(ref: string | null | undefined, cmd: string): string {
  if (!ref || ref === 'host' || ref === 'current' || ref.startsWith('netns:')) return cmd;
  const at = ref.indexOf(':');
  const kind = at < 0 ? 'named' : ref.slice(0, at);
  const name = ref.slice(at + 1);
  switch (kind) {
    case 'named':
      return `ip netns exec ${ref} ${cmd}`;
    case 'docker':
      return `nsenter -t "$(docker inspect -f '{{.State.Pid}}' ${name})" -n ${cmd}`;
    case 'podman':
      return `nsenter -t "$(podman inspect -f '{{.State.Pid}}' ${name})" -n ${cmd}`;
    case 'pod': {
      const [ns, pod] = name.split('/');
      return `kubectl exec -n ${ns} ${pod} -- ${cmd}`;
    }
    case 'lxc':
      return `pct exec ${name} -- ${cmd}`;
    case 'nspawn':
      return `nsenter -t "$(machinectl show -p Leader --value ${name})" -n ${cmd}`;
    case 'pid':
      return `nsenter -t ${name} -n ${cmd}`;
    default:
      return cmd;
  }
}
