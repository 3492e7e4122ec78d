// Link changes on the watched interfaces (seeds 000 and 002: an MTU reset by
// an upgrade, guest ports left without their bridge): what differs between
// two looks at a namespace's links, as `link` events. The observer looks every
// 500 ms, so a change is reported within half a second of it.

import type { LinkEventJson } from '../contract/event.js';
import { inNetns } from '../contract/netns.js';
import { guestConfig, isGuestPort } from '../net/guest-ports.js';

export interface LinkState {
  netns: string;
  netnsInode: number;
  ifindex: number;
  name: string;
  /** rtnetlink's kind: bridge, veth, tun (a tap), '' for a plain device. */
  kind: string;
  mtu: number;
  up: boolean;
  /** The bridge (or bond) it is in, by name; '' when none. */
  master: string;
}

const key = (l: Pick<LinkState, 'netnsInode' | 'ifindex'>) => `${l.netnsInode}/${l.ifindex}`;

/**
 * The changes from `before` to `now`. A namespace seen for the first time
 * says nothing (its links are not news); one that went away says nothing
 * either (a container stopped: its interfaces went with it).
 */
export function linkChanges(before: readonly LinkState[], now: readonly LinkState[], ts: number): LinkEventJson[] {
  const old = new Map(before.map((l) => [key(l), l]));
  const cur = new Map(now.map((l) => [key(l), l]));
  const knownSpaces = new Set(before.map((l) => l.netnsInode));
  const liveSpaces = new Set(now.map((l) => l.netnsInode));
  const out: LinkEventJson[] = [];
  for (const l of now) {
    if (!knownSpaces.has(l.netnsInode)) continue;
    const was = old.get(key(l));
    if (!was) {
      out.push({ type: 'event', kind: 'link', ts, netns: l.netns, iface: l.name, changes: ['added'], mtu: l.mtu, master: l.master, up: l.up });
      continue;
    }
    const changes: string[] = [];
    const prior: NonNullable<LinkEventJson['was']> = {};
    if (was.mtu !== l.mtu) {
      changes.push('mtu');
      prior.mtu = was.mtu;
    }
    if (was.master !== l.master) {
      changes.push('master');
      prior.master = was.master;
    }
    if (was.up !== l.up) changes.push(l.up ? 'up' : 'down');
    if (was.name !== l.name) changes.push('name');
    if (changes.length) out.push({ type: 'event', kind: 'link', ts, netns: l.netns, iface: l.name, changes, mtu: l.mtu, master: l.master, up: l.up, ...(Object.keys(prior).length ? { was: prior } : {}) });
  }
  for (const l of before) {
    if (cur.has(key(l)) || !liveSpaces.has(l.netnsInode)) continue;
    out.push({ type: 'event', kind: 'link', ts, netns: l.netns, iface: l.name, changes: ['removed'], mtu: l.mtu, master: l.master, up: l.up });
  }
  return out;
}

/**
 * A guest's port that left its bridge while a bridge is still there (seed
 * 002: vmbr0 restarted under running guests with legacy ifupdown): the guest
 * is cut off. One line saying so and how to put it back, else undefined.
 */
export function guestCutOff(change: LinkEventJson, now: readonly LinkState[]): string | undefined {
  const port = now.find((l) => l.netns === change.netns && l.name === change.iface);
  if (!port || !change.changes.includes('master') || change.master || !change.was?.master || !isGuestPort(port.name, port.kind)) return undefined;
  if (!now.some((l) => l.netnsInode === port.netnsInode && l.kind === 'bridge')) return undefined;
  const where = change.netns === 'host' ? '' : ` in ${change.netns}`;
  const conf = guestConfig(port.name);
  return (
    `guest port ${port.name}${where} left ${change.was.master}: its guest is cut off (its frames go nowhere). ` +
    `Put it back: ${inNetns(change.netns, `ip link set ${port.name} master ${change.was.master}`)}; lasting: ifreload -a (ifupdown2)` +
    (conf ? `; its bridge is in ${conf.file} (${conf.net}: bridge=)` : '')
  );
}
