// What `pmtu-watch cluster` adds to the feed (docs/json-contract.md): each
// event and verdict gains `node`, the node's name; the feed also says how
// each node's feed is doing (`node` messages) and what it concluded across
// nodes (`incident` messages). And the configuration the web page draws
// (`GET /topology`): audit's reading of the watched namespaces.
// Field names are a contract: add fields, never rename or remove one.

import type { StreamEvent } from './event.js';
import type { FlowJson, VerdictCode, VerdictJson } from './verdict.js';

/** Who said it: the name `cluster` knows the node by (`--node NAME=URL`, or a discovered endpoint's address). */
export interface NodeTag {
  node: string;
}

export type NodeEventJson = StreamEvent & NodeTag;
export type NodeVerdictJson = VerdictJson & NodeTag;

export type NodeState = 'connecting' | 'up' | 'down';

/** A node's feed, as cluster sees it: sent at each change, and to each new client after its snapshot. */
export interface NodeStatusJson {
  type: 'node';
  node: string;
  state: NodeState;
  /** Since when (epoch ms) it has been in this state. */
  since: number;
  /** Why it is down (connection refused, 401, closed with a code), null when up. */
  reason: string | null;
  /** When down: in how many ms the next attempt is made. */
  retryMs: number | null;
  /** Where its feed is (no token in it). */
  url: string;
  /** How it was found: given (`--node`) or from the service's DNS. */
  source: 'flag' | 'dns';
  /** Messages received from it since cluster started. */
  messages: number;
}

/** One node's part in an incident. */
export interface IncidentPartJson {
  node: string;
  /** `ptb-sent`: this node generated the PTB; `ptb-dropped`: this node dropped it; `oversize-drop`: this node dropped the flow's too-big packets. */
  role: 'ptb-sent' | 'ptb-dropped' | 'oversize-drop';
  netns: string;
  iface: string;
  /** The PTB's source (the hop that sent it), when known. */
  hop: string | null;
  /** The MTU the PTB advertised, or the one the dropped packet exceeded. */
  mtu: number | null;
  /** Drop reason (IP_RPFILTER, NETFILTER_DROP, PKT_TOO_BIG, ...), null for a sender. */
  reason: string | null;
  /** When this node first saw its part (epoch ms), and how many times since. */
  ts: number;
  count: number;
  /** One line a person reads. */
  what: string;
}

/**
 * A PTB one node sent about a flow whose PTB (or too-big packet) another node
 * dropped: one incident naming both. Sent when it is first seen and whenever
 * a part is added; `id` stays the same.
 */
export interface IncidentJson {
  type: 'incident';
  id: string;
  /** When it was last changed (epoch ms, the latest part's time). */
  ts: number;
  /** What it amounts to: the PTB never reached the sender. */
  verdict: VerdictCode;
  /** rp_filter, firewall, oversize, or the drop reason in lower case. */
  cause: string | null;
  flow: FlowJson;
  mtu: number | null;
  /** The PTB's source, when known. */
  hop: string | null;
  /** The nodes involved, the PTB's sender first. */
  nodes: string[];
  parts: IncidentPartJson[];
  summary: string;
  fix: string | null;
}

/** A device as the page draws it. */
export interface TopologyLinkJson {
  name: string;
  ifindex: number;
  mtu: number;
  up: boolean;
  /** '' for a device without one (physical, lo), else veth, bridge, vlan, vxlan, ... */
  kind: string;
  /** The bridge (or bond) it is a port of, null when none. */
  master: string | null;
  /** A veth's other end (namespace name, null when it is this one's), a vlan's parent. */
  peer: { netns: string | null; iface: string } | null;
  /** A tunnel's remote and the device it is bound to. */
  tunnel?: { remote: string; local: string; lower: string | null; overhead: number | null };
  addresses: string[];
}

export interface TopologyRouteJson {
  family: 4 | 6;
  /** 'default' or PREFIX/LEN. */
  dst: string;
  gateway: string;
  dev: string;
  /** The route's mtu metric, 0 when not set. */
  mtu: number;
}

export interface TopologyNamespaceJson {
  name: string;
  /** Watched by this node (false: only read to resolve the far end of a veth pair). */
  inScope: boolean;
  links: TopologyLinkJson[];
  /** Main-table unicast routes. */
  routes: TopologyRouteJson[];
}

export interface TopologyFindingJson {
  rule: string;
  severity: 'info' | 'warning' | 'error';
  netns: string;
  device: string;
  related: { netns: string; device: string }[];
  summary: string;
}

/** `GET /topology`: serve's reading of the namespaces it watches (one), cluster's of its nodes (one per node, each with `node`). */
export interface TopologyJson {
  type: 'topology';
  node?: string;
  /** When it was read (epoch ms). */
  ts: number;
  namespaces: TopologyNamespaceJson[];
  findings: TopologyFindingJson[];
  /** What could not be read, one line each. */
  problems: string[];
}

/** What `cluster` adds to the feed's messages. */
export type ClusterMessage = NodeStatusJson | IncidentJson;
