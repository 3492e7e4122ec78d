/**
 * The whole surface of the native addon (native/*.cc), loaded from
 * build/Release/pmtu_native.node. It loads, attaches, detaches and moves
 * bytes; it knows nothing about what the records mean.
 *
 * Every error it throws is an Error with `code` (one of NativeErrorCode) and
 * `hint` (what to do about it).
 */

export type NativeErrorCode =
  | 'PMTU_ERR_PERM' // missing CAP_BPF / CAP_NET_ADMIN / CAP_PERFMON
  | 'PMTU_ERR_NO_BTF' // /sys/kernel/btf/vmlinux missing
  | 'PMTU_ERR_BPF_LOAD' // verifier or libbpf refused a program
  | 'PMTU_ERR_ATTACH' // a tracepoint or tc hook could not be attached
  | 'PMTU_ERR_NETNS' // a namespace could not be opened or entered
  | 'PMTU_ERR_NO_DEVICE' // no such interface in that namespace
  | 'PMTU_ERR_STATE' // call not valid in the observer's current state
  | 'PMTU_ERR_INVALID'; // bad argument

export interface NativeError extends Error {
  code: NativeErrorCode;
  hint: string;
}

export interface ObserverOptions {
  /** Ring buffer size in bytes, a power of two (default 8 MiB). */
  ringBufferBytes?: number;
  /** Records per batch handed to JavaScript (default 4096). */
  batchRecords?: number;
  /** Batches queued for JavaScript before new ones are counted lost (default 64). */
  maxQueuedBatches?: number;
  /**
   * Records queued for JavaScript (all batches) before new ones are counted
   * lost (default 65536): bounds how far behind JavaScript can fall, and so
   * how long a flood keeps it from answering anything else.
   */
  maxQueuedRecords?: number;
  /** A flow's largest DF packet is tracked from this size on (default 1280). */
  sizeReportMin?: number;
  /** Flows the kernel's flow table is sized for (default 131072: 32768 buckets of 8 ways, 20 MiB of kernel memory). */
  flowTableEntries?: number;
  /**
   * Every SYN, SYN-ACK and largest-size growth becomes a record, as before the
   * flow table (costly on a busy host); by default only what can be trouble.
   */
  everyFlow?: boolean;
}

/** A loaded BPF program: what Observer.programs() says of it. */
export interface ProgramInfo {
  name: string;
  id: number;
  /** Instructions the verifier processed to accept it. */
  verifiedInsns: number;
}

/** Healthy traffic as counts, per hook (namespace and interface), since start. */
export interface TrafficCounters {
  netnsInode: number;
  ifindex: number;
  /** SYNs without ACK that crossed the hook. */
  syns: number;
  synAcks: number;
  /** Flows the kernel's flow table first saw at this hook. */
  flows: number;
  /** frag-needed / Packet Too Big that crossed the hook. */
  ptbs: number;
}

export interface LossCounters {
  /** Records the kernel could not reserve in the ring buffer. */
  ringbufFull: number;
  /** New flows the kernel's flow table refused. */
  flowTableFull: number;
  /** Records dropped because JavaScript's queue of batches was full. */
  queueFull: number;
  /** Records handed to JavaScript so far. */
  delivered: number;
}

export interface Attachment {
  /** Namespace file the hook was attached through, null for the observer's own. */
  netns: string | null;
  ifindex: number;
  ifname: string;
}

export interface LinkInfo {
  ifindex: number;
  name: string;
  mtu: number;
  up: boolean;
  /** IFLA_INFO_KIND: 'veth', 'bridge', 'vlan', 'vxlan', ...; '' for a device without one (physical, lo). */
  kind: string;
  /** ifindex of the bridge (or bond) this device is a port of, 0 when none. */
  master: number;
  /** IFLA_LINK: a veth's peer, a vlan's or macvlan's parent; 0 when none. */
  link: number;
  /** The namespace `link` lives in, as this namespace numbers it (RTM_GETNSID); -1: this one. */
  linkNetnsid: number;
  /** Present on tunnel devices (vxlan, geneve, gre*, ip6gre*, erspan, ipip, sit, ip6tnl). */
  tunnel?: TunnelInfo;
}

export interface TunnelInfo {
  /** ifindex of the device it sends through (IFLA_*_LINK), 0 when not pinned to one. */
  lower: number;
  /** Remote or group address, '' when none (e.g. a VXLAN device fed by its FDB). */
  remote: string;
  local: string;
  /** IFLA_GRE_OFLAGS in host order: GRE_CSUM 0x8000, GRE_KEY 0x2000, GRE_SEQ 0x1000. */
  greOutputFlags: number;
  /** IPv6 tunnels' encapsulation limit option, -1 when not reported. */
  encapLimit: number;
  /** IFLA_IPTUN_FLAGS / IFLA_GRE_FLAGS (IP6_TNL_F_IGN_ENCAP_LIMIT = 0x1). */
  flags: number;
}

export interface AddressInfo {
  ifindex: number;
  family: 4 | 6;
  address: string;
  prefixLen: number;
}

export interface RouteEntry {
  family: 4 | 6;
  /** 254 main, 255 local, ... */
  table: number;
  /** RTN_UNICAST 1, RTN_LOCAL 2, RTN_BROADCAST 3, RTN_MULTICAST 5, ... */
  type: number;
  /** '' with dstLen 0: the default route. */
  dst: string;
  dstLen: number;
  gateway: string;
  oif: number;
  priority: number;
  /** The route's `mtu` metric, 0 when not set. */
  mtu: number;
  /** The route's `advmss` metric, 0 when not set. */
  advmss: number;
  /** RTA_PREFSRC, '' when none. */
  prefsrc: string;
  /** A cached entry's seconds left (0 for routes). */
  expires: number;
}

export interface NetConfig {
  links: LinkInfo[];
  addresses: AddressInfo[];
  /** Every table; a multipath route appears once per nexthop. */
  routes: RouteEntry[];
  /** The path MTUs the kernel cached (`ip route show cache`): one entry per destination, `mtu` the learned PMTU. */
  cached: RouteEntry[];
  /** Per namespace file in `peers`: the nsid this namespace gives it, -1 when none. */
  peerNsids: number[];
}

export interface TestRunResult {
  retval: number;
  /** Average run time per repeat, in nanoseconds. */
  durationNs: number;
  output: Buffer;
}

export class Observer {
  constructor(options?: ObserverOptions);
  /**
   * Loads the BPF programs, attaches the tracepoints (they see every
   * namespace) and starts the thread that drains the ring buffer.
   * onBatch receives a Buffer of whole records, RECORD_SIZE bytes each.
   */
  start(onBatch: (records: Buffer) => void): void;
  /** tc clsact ingress and egress on one interface; netns is a path such as /run/netns/NAME. */
  attach(netns: string | null, ifindex: number): Attachment;
  /** Removes only this observer's filters; other filters on the clsact survive. */
  detach(netns: string | null, ifindex: number): void;
  attachments(): Attachment[];
  losses(): LossCounters;
  /** Every hook's traffic counters, summed over CPUs. */
  traffic(): TrafficCounters[];
  /** The loaded BPF programs and the instructions the verifier processed for each (its limit: 1M). */
  programs(): ProgramInfo[];
  /** Signals this kernel cannot provide (a missing tracepoint), one sentence each. */
  warnings(): string[];
  /**
   * BPF_PROG_TEST_RUN of the tc program on a frame starting at its Ethernet
   * header (the program sees it as on loopback). Events it produces arrive
   * through onBatch. retval is the tc verdict (-1 = TC_ACT_UNSPEC: pass on);
   * output is the frame after the program, which must equal the input.
   */
  testRun(direction: 'ingress' | 'egress', frame: Buffer, repeat?: number): TestRunResult;
  /**
   * testRun on a worker thread: batches keep arriving while the kernel runs
   * the program (a load generator for benchmarks).
   */
  testRunAsync(direction: 'ingress' | 'egress', frame: Buffer, repeat?: number): Promise<TestRunResult>;
  /** Detaches every hook, stops the thread, releases the programs. Idempotent. */
  stop(): void;
}

export interface LinkMonitorOptions {
  /** Receive buffer of each namespace's socket (SO_RCVBUFFORCE), bytes (default 1 MiB). */
  receiveBufferBytes?: number;
  /** Batches queued for JavaScript (default 64); beyond them, new notices wait in one growing batch. */
  maxQueuedBatches?: number;
  /**
   * Notices that batch holds at most (default 65536): beyond it they are
   * dropped, counted (queueFull) and their namespaces marked overrun.
   */
  maxPendingNotices?: number;
}

/** One rtnetlink notification about a link. */
export interface LinkNotice {
  /** The namespace, as add() numbered it. */
  id: number;
  /** RTM_NEWLINK (a link created or changed: its whole state) or RTM_DELLINK. */
  type: 'new' | 'del';
  /** CLOCK_MONOTONIC at receipt, in ns (the clock of the observer's records). */
  tsNs: number;
  link: LinkInfo;
}

/** Notifications of a namespace lost since its last batch: read the namespace again (listLinks). */
export interface LinkOverrun {
  id: number;
  /** ENOBUFS from the kernel, truncated messages, and notices dropped while JavaScript was behind. */
  count: number;
}

export interface LinkBatch {
  /** In the order the kernel sent them, per namespace. */
  notices: LinkNotice[];
  overruns: LinkOverrun[];
}

export interface LinkMonitorCounters {
  /** Notices handed to JavaScript so far. */
  notices: number;
  /** Times a socket's receive buffer overflowed (ENOBUFS) or a message was truncated. */
  overruns: number;
  /** Notices dropped because JavaScript was maxPendingNotices behind. */
  queueFull: number;
  /** Namespaces watched now. */
  namespaces: number;
}

export interface WatchedNetns {
  /** What notices and overruns name it by; remove(id) stops watching it. */
  id: number;
  /** The inode of the namespace the socket was made in. */
  netnsInode: number;
}

/**
 * Link changes as the kernel announces them (RTM_NEWLINK / RTM_DELLINK on
 * RTMGRP_LINK): a NETLINK_ROUTE socket made inside each watched namespace,
 * all read by one thread that hands batches to onBatch. A socket holds its
 * namespace: remove() the ones that went away.
 */
export class LinkMonitor {
  constructor(options?: LinkMonitorOptions);
  start(onBatch: (batch: LinkBatch) => void): void;
  /** Starts watching a namespace (a path such as /run/netns/NAME or /proc/PID/ns/net; null: ours). */
  add(netns: string | null): WatchedNetns;
  remove(id: number): void;
  counters(): LinkMonitorCounters;
  /** Stops the thread and closes every socket. Idempotent. */
  stop(): void;
}

/** Interfaces of a namespace (null: the observer's own), over rtnetlink. */
export function listLinks(netns: string | null): LinkInfo[];
/**
 * Links, addresses and routes of a namespace (null: ours), over rtnetlink.
 * peers: namespace files (/run/netns/NAME, /proc/PID/ns/net) whose nsid is
 * wanted, to find where a link's linkNetnsid points.
 */
export function readNetConfig(netns: string | null, peers?: string[]): NetConfig;
/** Sysctl values (paths under /proc/sys, e.g. 'net/ipv4/conf/all/rp_filter') as seen inside a namespace; null where absent. */
export function readSysctls(netns: string | null, paths: string[]): (string | null)[];
export interface RouteInfo {
  /** False when there is no route. */
  found: boolean;
  /** Cached path MTU (what a PTB taught the kernel), 0 when none. */
  mtu: number;
  /** Seconds the cached entry has left. */
  expires: number;
  ifindex: number;
}

/** `ip route get DST` in a namespace (null: ours), over rtnetlink. */
export function routeGet(netns: string | null, dst: string): RouteInfo;
/** Inode of a namespace file (null: the observer's own namespace). */
export function netnsInode(netns: string | null): number;
/** A tc filter of a killed pmtu-watch, as removeLeftovers() removed it. */
export interface Leftover {
  ifname: string;
  ifindex: number;
  direction: 'ingress' | 'egress';
  priority: number;
  progId: number;
  /** The pid of the pmtu-watch that attached it (0: its program does not say). */
  ownerPid: number;
}

/**
 * Removes, from every interface of a namespace (null: ours), the tc filters
 * pmtu-watch attached in a run that was killed (kill -9, a crash): ours by
 * handle and program name, and held by no process any more. Filters of
 * running observers and of other programs are never touched.
 */
export function removeLeftovers(netns: string | null): Leftover[];
/** enum skb_drop_reason of the running kernel, names without the SKB_DROP_REASON_ prefix, indexed by value. */
export function dropReasonNames(): string[];
/** sizeof(struct pmtu_event) as compiled. */
export const RECORD_SIZE: number;

/** What a ProbeSocket sends: ICMP echo (raw), UDP (a datagram socket), TCP SYNs (raw). */
export type ProbeProtocol = 'icmp' | 'udp' | 'tcp';

/** One thing that came back to a ProbeSocket. */
export interface ProbeReceipt {
  /** True: from the error queue (an ICMP error about a packet it sent, or a local error); false: an ordinary packet. */
  error: boolean;
  /** CLOCK_MONOTONIC at receipt, in microseconds (process.hrtime's clock). */
  tsUs: number;
  /** An error's offender (SO_EE_OFFENDER: the router or host that sent it), or the packet's source. */
  from: string;
  /** sock_extended_err, for errors (0 for packets): origin 1 local, 2 ICMP, 3 ICMPv6. */
  origin: number;
  type: number;
  code: number;
  errno: number;
  /** frag-needed / Packet Too Big: the MTU it advertised. */
  info: number;
  /**
   * An error: the quoted packet, as much as the kernel kept, from its L4
   * header on (raw sockets) or from its UDP payload on (udp). A packet: IPv4
   * raw sockets from the IP header, the others from L4.
   */
  data: Buffer;
}

/**
 * A socket made in a namespace (null: ours) and connected to dst, the only
 * address it can send to: DF on every packet whatever path MTU the kernel
 * cached (IP_PMTUDISC_PROBE / IPV6_PMTUDISC_PROBE, IPV6_DONTFRAG), ICMP errors
 * on its error queue (IP_RECVERR / IPV6_RECVERR). icmp and tcp are raw
 * sockets (the bytes given are the ICMP / TCP header and payload; IPv4 TCP's
 * checksum is the caller's, ICMPv6's and IPv6 TCP's the kernel's; of ordinary
 * ICMP only echo replies are received); udp a datagram socket to port.
 * The arguments are checked by src/probe/socket.ts.
 */
export class ProbeSocket {
  constructor(netns: string | null, dst: string, protocol: ProbeProtocol, port?: number);
  /** The source address the kernel chose for dst. */
  local(): string;
  /** Sends with this TTL / hop limit; 0, or the errno (EMSGSIZE: larger than the device's MTU). */
  send(payload: Buffer, ttl: number): number;
  /** The next error or packet, waiting up to timeoutMs; null when none came. One at a time. */
  receive(timeoutMs: number): Promise<ProbeReceipt | null>;
  /** Closes the socket (a receive() in progress still ends by its timeout). Idempotent. */
  close(): void;
}
