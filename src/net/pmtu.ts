// What Linux does with the MTU a frag-needed or Packet Too Big advertises:
// the rule the route probe and the correlator share.

/**
 * The smallest path MTU the kernel accepts: IPv4's net.ipv4.route.min_pmtu
 * (552 unless changed), IPv6's minimum link MTU (RFC 8200). A PTB advertising
 * less is not ignored: the kernel caches this floor instead (ip_rt_update_pmtu,
 * rt6_update_exception_stamp_rt / ip6_update_pmtu).
 */
export const MIN_PMTU: Readonly<Record<4 | 6, number>> = { 4: 552, 6: 1280 };

/** The path MTU the kernel caches for a PTB advertising `advertised`. */
export function appliedPmtu(family: 4 | 6, advertised: number): number {
  return Math.max(advertised, MIN_PMTU[family]);
}

/** The family of an address in text form. */
export function familyOf(addr: string): 4 | 6 {
  return addr.includes(':') ? 6 : 4;
}
