// Names for what the kernel reports as numbers: namespace inodes (the names
// `ip netns` gives them), interface indexes, and drop reasons.

import type { NetnsInfoJson } from '../contract/netns.js';
import { NetnsDiscovery, type NetnsEntry } from '../netns/discovery.js';

export const HOST_NETNS = 'host';

export interface NameSources {
  /** Every network namespace on the host now (the discovery's scan). */
  scan(): NetnsEntry[];
  now(): number;
}

/** The host's namespaces, by one discovery that remembers what it worked out. */
export function hostNameSources(): NameSources {
  const discovery = new NetnsDiscovery();
  return { scan: () => discovery.scan(), now: () => Date.now() };
}

/** Turns namespace inodes into names; a miss looks again at most once a second. */
export class NetnsNames {
  private byInode = new Map<number, NetnsEntry>();
  private refreshedAt = -Infinity;

  /** `entries`: a scan the caller made already (else one is made). */
  constructor(
    private readonly sources: NameSources,
    entries: readonly NetnsEntry[] = sources.scan(),
  ) {
    this.update(entries);
  }

  private refresh(): void {
    this.update(this.sources.scan());
  }

  /** What a scan found (the observer's rescan hands its own over). */
  update(entries: readonly NetnsEntry[]): void {
    this.refreshedAt = this.sources.now();
    const table = new Map<number, NetnsEntry>();
    for (const e of entries) if (!table.has(e.inode)) table.set(e.inode, e);
    this.byInode = table;
  }

  private lookup(inode: number): NetnsEntry | undefined {
    let e = this.byInode.get(inode);
    if (e === undefined && this.sources.now() - this.refreshedAt >= 1000) {
      this.refresh();
      e = this.byInode.get(inode);
    }
    return e;
  }

  /** The stable name: host, an `ip netns` name, docker:web-1, pod:ns/name, pid:N; else netns:INODE. */
  name(inode: number): string {
    if (inode === 0) return '';
    return this.lookup(inode)?.ref ?? `netns:${inode}`;
  }

  /** A file to open a namespace by, from its stable name (as the last scan knew it); null: ours. */
  pathOf(ref: string): string | null | undefined {
    for (const e of this.byInode.values()) if (e.ref === ref) return e.path;
    return undefined;
  }

  /** Who holds it, for a container's or a process's namespace (host and named ones need no more than their name). */
  info(inode: number): NetnsInfoJson | undefined {
    if (inode === 0) return undefined;
    const info = this.lookup(inode)?.info;
    return info && info.kind !== 'host' && info.kind !== 'named' && info.kind !== 'current' ? info : undefined;
  }
}

/** Interface names per namespace, filled from attachments and the addon's link lists. */
export class IfaceNames {
  private readonly table = new Map<string, string>();

  set(netnsInode: number, ifindex: number, name: string): void {
    this.table.set(`${netnsInode}/${ifindex}`, name);
  }

  /** The name we know, else the kernel's name from the record, else ifN. */
  name(netnsInode: number, ifindex: number, recorded: string): string {
    if (recorded !== '') return recorded;
    return this.table.get(`${netnsInode}/${ifindex}`) ?? (ifindex ? `if${ifindex}` : '');
  }
}

/** enum skb_drop_reason names by value, as the running kernel has them. */
export class DropReasons {
  constructor(private readonly names: readonly (string | undefined)[]) {}

  name(value: number): string {
    return this.names[value] ?? `reason-${value}`;
  }
}
