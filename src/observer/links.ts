// Link changes on the watched interfaces (seeds 000 and 002: an MTU reset by
// an upgrade, guest ports left without their bridge), as `link` events. The
// kernel announces every change in a namespace (rtnetlink: an RTM_NEWLINK
// with the link's whole state, an RTM_DELLINK when it goes); a LinkTable per
// namespace keeps each link's last state and says what changed, so a flap
// (down and up within milliseconds) is two events, each as it happens. When
// notifications were lost (an overrun) the namespace is read again and
// linkChanges() says what differs from what the table knew.

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

/** What rtnetlink says of a link (a dump's entry or a notification's): native LinkInfo's fields read here. */
export interface LinkFacts {
  ifindex: number;
  name: string;
  kind: string;
  mtu: number;
  up: boolean;
  /** ifindex of its bridge (or bond), 0 when none. */
  master: number;
}

const key = (l: Pick<LinkState, 'netnsInode' | 'ifindex'>) => `${l.netnsInode}/${l.ifindex}`;

function linkEvent(l: LinkState, changes: string[], ts: number, was?: LinkEventJson['was']): LinkEventJson {
  return { type: 'event', kind: 'link', ts, netns: l.netns, iface: l.name, changes, mtu: l.mtu, master: l.master, up: l.up, ...(was && Object.keys(was).length ? { was } : {}) };
}

/** What differs between two states of one link, as its event; undefined when nothing we report did. */
function changeEvent(was: LinkState, l: LinkState, ts: number): LinkEventJson | undefined {
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
  return changes.length ? linkEvent(l, changes, ts, prior) : undefined;
}

/**
 * The changes from `before` to `now` (two reads of the links). A namespace
 * seen for the first time says nothing (its links are not news); one that
 * went away says nothing either (a container stopped: its interfaces went
 * with it).
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
    const ev = was ? changeEvent(was, l, ts) : linkEvent(l, ['added'], ts);
    if (ev) out.push(ev);
  }
  for (const l of before) {
    if (cur.has(key(l)) || !liveSpaces.has(l.netnsInode)) continue;
    out.push(linkEvent(l, ['removed'], ts));
  }
  return out;
}

/**
 * A bridge restart (seed 002) takes the port out first and deletes the bridge
 * after, in notifications a few milliseconds apart, then makes a new bridge.
 * A guest port that left its bridge is judged when another bridge is there
 * (the new one, or others), or when the one it left is still there this long
 * after (`ip link set PORT nomaster`).
 */
export const CUT_OFF_SETTLE_MS = 150;
/** How long a port left without any bridge waits for one to come back (ifup after ifdown) before it is let be. */
export const BRIDGE_RETURN_MS = 60_000;

interface LeftBridge {
  change: LinkEventJson;
  ifindex: number;
  /** The bridge it left, by ifindex. */
  from: number;
  at: number;
}

/**
 * One namespace's links as rtnetlink last described them (every link: ports'
 * masters are named through it), and the `link` events of the watched ones as
 * notifications come. Pure: the caller hands in the facts and the time.
 */
export class LinkTable {
  private readonly links = new Map<number, { state: LinkState; master: number }>();
  private readonly leftBridge = new Map<number, LeftBridge>();

  /**
   * @param netns the namespace's name in events (it may be renamed as its holder is identified)
   * @param watched whether a link (by name) is one whose changes are reported
   */
  constructor(
    public netns: string,
    readonly netnsInode: number,
    links: readonly LinkFacts[],
    private readonly watched: (name: string) => boolean,
  ) {
    this.fill(links);
  }

  private fill(links: readonly LinkFacts[]): void {
    this.links.clear();
    for (const l of links) this.links.set(l.ifindex, { state: this.state(l, ''), master: l.master });
    for (const [, e] of this.links) e.state.master = this.masterName(e.master);
  }

  private masterName(ifindex: number): string {
    return ifindex ? (this.links.get(ifindex)?.state.name ?? `if${ifindex}`) : '';
  }

  private state(l: LinkFacts, master: string): LinkState {
    return { netns: this.netns, netnsInode: this.netnsInode, ifindex: l.ifindex, name: l.name, kind: l.kind, mtu: l.mtu, up: l.up, master };
  }

  /** Every link as rtnetlink last said it (a dump's worth, kept current by the notifications). */
  facts(): LinkFacts[] {
    return [...this.links.values()].map(({ state, master }) => ({ ifindex: state.ifindex, name: state.name, kind: state.kind, mtu: state.mtu, up: state.up, master }));
  }

  /** Every link's state now. */
  states(): LinkState[] {
    return [...this.links.values()].map((e) => ({ ...e.state, netns: this.netns }));
  }

  /**
   * One notification: RTM_NEWLINK ('new', the link's whole state: created or
   * changed) or RTM_DELLINK ('del'). The event it makes for a watched link,
   * else undefined (nothing we report changed, or not a watched link).
   */
  apply(type: 'new' | 'del', l: LinkFacts, ts: number): LinkEventJson | undefined {
    const was = this.links.get(l.ifindex);
    if (type === 'del') {
      if (!was) return undefined;
      this.links.delete(l.ifindex);
      this.leftBridge.delete(l.ifindex);
      return this.watched(was.state.name) ? linkEvent({ ...was.state, netns: this.netns }, ['removed'], ts) : undefined;
    }
    const now = this.state(l, this.masterName(l.master));
    this.links.set(l.ifindex, { state: now, master: l.master });
    if (!was) return this.watched(now.name) ? linkEvent(now, ['added'], ts) : undefined;
    if (was.state.name !== now.name) {
      // Its ports are still its ports: they say its new name, without an event of their own.
      for (const [, e] of this.links) if (e.master === l.ifindex) e.state.master = now.name;
    }
    const ev = changeEvent({ ...was.state, netns: this.netns }, now, ts);
    if (!ev || !(this.watched(now.name) || this.watched(was.state.name))) return undefined;
    if (l.master) this.leftBridge.delete(l.ifindex);
    else if (was.master && isGuestPort(now.name, now.kind)) this.leftBridge.set(l.ifindex, { change: ev, ifindex: l.ifindex, from: was.master, at: ts });
    return ev;
  }

  /**
   * The namespace read again after notifications were lost: what differs
   * from what the table knew, for the watched links.
   */
  resync(links: readonly LinkFacts[], ts: number): LinkEventJson[] {
    const before = this.states();
    const masters = new Map([...this.links].map(([ifindex, e]) => [ifindex, e.master]));
    this.fill(links);
    const out = linkChanges(before, this.states(), ts).filter((ev) => this.watched(ev.iface));
    for (const ev of out) {
      const port = [...this.links.values()].find((e) => e.state.name === ev.iface);
      if (!port) continue;
      const from = masters.get(port.state.ifindex) ?? 0;
      if (port.master) this.leftBridge.delete(port.state.ifindex);
      else if (ev.changes.includes('master') && from && isGuestPort(port.state.name, port.state.kind))
        this.leftBridge.set(port.state.ifindex, { change: ev, ifindex: port.state.ifindex, from, at: ts });
    }
    for (const ifindex of this.leftBridge.keys()) if (!this.links.has(ifindex)) this.leftBridge.delete(ifindex);
    return out;
  }

  /**
   * Guest ports that left their bridge, judged once each (see
   * CUT_OFF_SETTLE_MS): the warnings due by `now`, and when to ask again
   * (ms from now) if one waits for time alone to pass.
   */
  cutOffs(now: number): { warnings: string[]; recheckInMs?: number } {
    const warnings: string[] = [];
    let recheckInMs: number | undefined;
    for (const [ifindex, left] of this.leftBridge) {
      const port = this.links.get(ifindex);
      const age = now - left.at;
      if (!port || port.master || age >= BRIDGE_RETURN_MS) {
        this.leftBridge.delete(ifindex);
        continue;
      }
      const bridges = [...this.links.values()].filter((e) => e.state.kind === 'bridge');
      if (!bridges.some((e) => e.state.ifindex !== left.from)) {
        if (!bridges.length) continue; // its bridge went: judged when one comes back (a notification)
        if (age < CUT_OFF_SETTLE_MS) {
          recheckInMs = Math.min(recheckInMs ?? Infinity, CUT_OFF_SETTLE_MS - age);
          continue;
        }
      }
      this.leftBridge.delete(ifindex);
      const warning = guestCutOff(left.change, this.states());
      if (warning) warnings.push(warning);
    }
    return { warnings, ...(recheckInMs !== undefined ? { recheckInMs } : {}) };
  }
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
