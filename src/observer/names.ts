// Names for what the kernel reports as numbers: namespace inodes (the names
// `ip netns` gives them), interface indexes, and drop reasons.

import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Where `ip netns` keeps its namespace files. */
export const NETNS_DIRS = ['/run/netns', '/var/run/netns'];
export const HOST_NETNS = 'host';

export interface NameSources {
  /** Named namespaces: name → inode. */
  listNamed(): Map<string, number>;
  /** Inode of the initial namespace (that of pid 1). */
  initInode(): number | undefined;
  now(): number;
}

/** Named namespaces (`ip netns`): name → the file to open it by; the first directory wins. */
export function namedNetnsPaths(): Map<string, string> {
  const named = new Map<string, string>();
  for (const dir of NETNS_DIRS) {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of entries) if (!named.has(name)) named.set(name, join(dir, name));
  }
  return named;
}

/** The file of a named namespace, if it exists. */
export function namedNetnsPath(name: string): string | undefined {
  for (const dir of NETNS_DIRS) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

export const fsNameSources: NameSources = {
  listNamed() {
    const named = new Map<string, number>();
    for (const [name, path] of namedNetnsPaths()) {
      try {
        named.set(name, statSync(path).ino);
      } catch {
        // removed while we looked
      }
    }
    return named;
  },
  initInode() {
    try {
      return statSync('/proc/1/ns/net').ino;
    } catch {
      return undefined;
    }
  },
  now: () => Date.now(),
};

/** Turns namespace inodes into names; a miss refreshes the table at most once a second. */
export class NetnsNames {
  private byInode = new Map<number, string>();
  private refreshedAt = -Infinity;

  constructor(private readonly sources: NameSources = fsNameSources) {
    this.refresh();
  }

  private refresh(): void {
    this.refreshedAt = this.sources.now();
    const table = new Map<number, string>();
    const init = this.sources.initInode();
    if (init !== undefined) table.set(init, HOST_NETNS);
    for (const [name, ino] of this.sources.listNamed()) if (!table.has(ino)) table.set(ino, name);
    this.byInode = table;
  }

  name(inode: number): string {
    if (inode === 0) return '';
    let name = this.byInode.get(inode);
    if (name === undefined && this.sources.now() - this.refreshedAt >= 1000) {
      this.refresh();
      name = this.byInode.get(inode);
    }
    return name ?? `netns:${inode}`;
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
