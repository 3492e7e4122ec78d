// The name of a per-interface IPv4 sysctl, as `sysctl -w` takes it: an
// interface name with dots (vxlan.calico, eth0.100) is written with slashes,
// which sysctl reads as the separator instead.

export function ipv4ConfKey(ifname: string, key: string): string {
  return `net.ipv4.conf.${ifname.replace(/\./g, '/')}.${key}`;
}
