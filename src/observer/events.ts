// Typed events decoded from the kernel's records (bpf/events.h).

export type EventKind = 'ptb' | 'ptb-sent' | 'drop' | 'syn' | 'retransmit' | 'size';
export type Direction = 'ingress' | 'egress' | null;

/** A flow as the IP header states it. Addresses as text (IPv6 in RFC 5952 form). */
export interface Flow {
  family: 4 | 6;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: number;
  /** The length the IP header states (IPv6: payload + 40). */
  len: number;
}

export interface EventFlags {
  df: boolean;
  gso: boolean;
  icmpError: boolean;
  oversize: boolean;
  synAck: boolean;
  innerTruncated: boolean;
  local: boolean;
  /** An ICMP error whose quoted source is not its own destination: it cannot be genuine. */
  quoteMismatch: boolean;
}

/** bpf/events.h enum pmtu_encap_type, by name (src/net/encap.ts has their arithmetic). */
export type EncapType = 'ipip' | 'sit' | 'ip6ip6' | 'ip4ip6' | 'gre' | 'gretap' | 'vxlan' | 'geneve';

/**
 * The tunnel header around an event's subject flow (struct pmtu_encap): the
 * packet's own (the event's flow is the packet inside it) or, `quoted`, the
 * one an ICMP error quotes (its `inner` is the packet inside that).
 */
export interface Encap {
  type: EncapType;
  /** The tunnel's own IP version. */
  family: 4 | 6;
  /** The tunnel's endpoints (its IP header's source and destination). */
  src: string;
  dst: string;
  /** Bytes from the tunnel's IP header to the inner IP header. */
  overhead: number;
  /** VXLAN / Geneve VNI or GRE key, 0 when none. */
  id: number;
  /** A UDP tunnel's (VXLAN, Geneve) own ports, 0 for the others. */
  sport: number;
  dport: number;
  quoted: boolean;
}

/** A SYN's (or SYN-ACK's) MSS where the flow table first and last saw it. */
export interface MssSeen {
  first: number;
  firstIfindex: number;
  last: number;
  lastIfindex: number;
}

/**
 * What the kernel's flow table knew of the event's subject flow (its own, or
 * the one an ICMP error quotes) in the event's namespace, joined in the
 * kernel (struct pmtu_flow_state). Directions are the subject's: 0 is its
 * src -> dst.
 */
export interface FlowState {
  /** False: the table had no such flow here (never seen, or evicted). */
  known: boolean;
  firstNs: bigint;
  lastNs: bigint;
  /** The initiator (the SYN's sender), when a SYN or SYN-ACK was seen. */
  initiator: 'src' | 'dst' | null;
  syn: MssSeen | null;
  synAck: MssSeen | null;
  /** Largest DF packet (one segment's size) per direction, 0 when none. */
  largest: readonly [number, number];
  /** Smallest MTU of the hooks the flow crossed here, 0 when none yet. */
  minMtu: number;
  minMtuIfindex: number;
}

export interface PmtuEvent {
  kind: EventKind;
  dir: Direction;
  /** Kernel CLOCK_MONOTONIC nanoseconds. */
  tsNs: bigint;
  netnsInode: number;
  ifindex: number;
  /** The device's name as the kernel had it ('' when unknown). */
  ifname: string;
  /** PTB: advertised; drop: the device's/route's it exceeded; syn/size: the hook device's; retransmit: the route's. */
  mtu: number;
  /** L3 length (one segment's with flags.gso); in a tunnel (encap, not quoted) the inner packet's: the wire carries len + encap.overhead. */
  len: number;
  /** SYN: the MSS option (0: none); retransmit: the socket's MSS. */
  mss: number;
  vlan: number;
  /** drop: enum skb_drop_reason value of the running kernel. */
  reason: number;
  icmpType: number;
  icmpCode: number;
  /** retransmit: the socket's consecutive retransmission timeouts (1: the first RTO). */
  timeouts: number;
  /** The device whose MTU `mtu` is, when it is not ifindex (a route's device, a veth's peer). */
  mtuIfindex: number;
  mtuNetnsInode: number;
  mtuIfname: string;
  /** Shared between events with the same flags byte, hence frozen. */
  flags: Readonly<EventFlags>;
  /** The packet's own header (null for a generated PTB, which has none yet). */
  outer: Flow | null;
  /** The flow an ICMP error quotes. */
  inner: Flow | null;
  /** The subject flow's kernel state (known: false when the table had none). */
  state: FlowState;
  /** The tunnel around the subject flow, null when none. */
  encap: Encap | null;
  /** The packet from its network header on, as much as was kept. */
  snap: Buffer;
}
