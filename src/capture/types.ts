// The capture's own messages (proto/pmtu.proto: Header, Snapshot, Note, End)
// as plain objects, and the records a reader hands back.

import type { StreamEvent } from '../contract/event.js';
import type { StatsJson } from '../contract/stats.js';
import type { VerdictJson } from '../contract/verdict.js';

export interface InterfaceInfo {
  netns: string;
  name: string;
  ifindex: number;
  mtu: number;
}

export interface Selection {
  netns: string[];
  allNetns: boolean;
  ifaces: string[];
  /** 0: the default. */
  sizeMin: number;
  /** 0: until stopped. */
  durationS: number;
}

export interface Header {
  schema: string;
  tool: string;
  host: string;
  kernel: string;
  /** Epoch ms. */
  startTime: number;
  namespaces: string[];
  interfaces: InterfaceInfo[];
  selection: Selection;
}

export interface Link {
  ifindex: number;
  name: string;
  mtu: number;
  up: boolean;
}

export interface Sysctl {
  /** Dotted: net.ipv4.conf.all.rp_filter */
  name: string;
  value: string;
}

export interface Route {
  dst: string;
  gateway?: string;
  dev: string;
  prefsrc?: string;
  metric?: number;
  /** The route's mtu metric, or a cached path MTU. */
  mtu?: number;
  /** Seconds a cached entry has left. */
  expires?: number;
  /** A PMTU exception (`ip route show cache`). */
  cached: boolean;
  family: 4 | 6;
}

export interface RouteLookup {
  dst: string;
  found: boolean;
  /** Cached path MTU, 0 when none. */
  mtu: number;
  expires: number;
  dev: string;
}

export interface NamespaceState {
  name: string;
  inode: number;
  links: Link[];
  sysctls: Sysctl[];
  routes: Route[];
  lookups: RouteLookup[];
  /** What could not be read, and why. */
  problems: string[];
}

export type Moment = 'start' | 'end';

export interface Snapshot {
  moment: Moment;
  /** Epoch ms. */
  time: number;
  namespaces: NamespaceState[];
}

export interface End {
  time: number;
  /** "duration", "signal", or what went wrong. */
  reason: string;
  events: number;
  verdicts: number;
  /** Records before the End, the header included. */
  records: number;
}

/** A record as a reader hands it back, with the byte offset it starts at. */
export type CaptureRecord =
  | { type: 'event'; offset: number; event: StreamEvent; snap: Buffer }
  | { type: 'verdict'; offset: number; verdict: VerdictJson }
  | { type: 'stats'; offset: number; stats: StatsJson; time: number }
  | { type: 'snapshot'; offset: number; snapshot: Snapshot }
  | { type: 'note'; offset: number; time: number; text: string }
  | { type: 'end'; offset: number; end: End };
