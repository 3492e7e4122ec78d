// A namespace's network configuration as rtnetlink dumps it (links,
// addresses, routes) plus sysctl values read from inside the namespace: the
// raw material of `pmtu-watch audit`. Fields are copied, not interpreted.
#pragma once

#include <linux/netlink.h>

#include <cstdint>
#include <string>
#include <vector>

namespace pmtu {

struct NetLink {
  int ifindex = 0;
  std::string name;
  unsigned mtu = 0;
  bool up = false;
  std::string kind;        // IFLA_INFO_KIND: "veth", "bridge", "vxlan", ...; "" for none
  int master = 0;          // IFLA_MASTER: the bridge (or bond) this is a port of
  int link = 0;            // IFLA_LINK: a veth's peer, a vlan's parent
  int link_netnsid = -1;   // IFLA_LINK_NETNSID: `link` lives in that namespace (-1: in this one)
  // Tunnels (IFLA_INFO_DATA): the device they send through and their ends.
  bool is_tunnel = false;  // a kind whose data is parsed below
  int tunnel_lower = 0;    // IFLA_VXLAN_LINK / IFLA_GRE_LINK / IFLA_IPTUN_LINK
  std::string tunnel_remote;  // group or remote address, "" when none
  std::string tunnel_local;
  unsigned gre_oflags = 0;    // IFLA_GRE_OFLAGS in host order (GRE_KEY, GRE_SEQ, GRE_CSUM)
  int encap_limit = -1;       // IFLA_IPTUN_ENCAP_LIMIT / IFLA_GRE_ENCAP_LIMIT
  unsigned tunnel_flags = 0;  // IFLA_IPTUN_FLAGS / IFLA_GRE_FLAGS (IP6_TNL_F_*)
};

struct NetAddress {
  int ifindex = 0;
  int family = 0;  // 4 or 6
  std::string address;
  unsigned prefix_len = 0;
};

struct NetRoute {
  int family = 0;  // 4 or 6
  unsigned table = 0;
  unsigned type = 0;  // RTN_UNICAST, RTN_LOCAL, ...
  std::string dst;    // "" with dst_len 0: the default route
  unsigned dst_len = 0;
  std::string gateway;
  int oif = 0;
  unsigned priority = 0;
  unsigned mtu = 0;     // RTAX_MTU metric, 0 when not set
  unsigned advmss = 0;  // RTAX_ADVMSS metric, 0 when not set
  std::string prefsrc;
  unsigned expires = 0;  // cached entries: seconds left
};

struct NetConfig {
  std::vector<NetLink> links;
  std::vector<NetAddress> addresses;
  std::vector<NetRoute> routes;   // one per nexthop of a multipath route
  std::vector<NetRoute> cached;   // path MTU exceptions (`ip route show cache`)
  std::vector<int> peer_nsids;    // per peer path asked about: its nsid here, -1 when none
};

// Reads the configuration of the namespace at netns_path (empty: ours).
// peers: namespace files whose nsid (as this namespace numbers them) is
// wanted, to find where IFLA_LINK_NETNSID points.
NetConfig ReadNetConfig(const std::string &netns_path, const std::vector<std::string> &peers);

// One RTM_NEWLINK / RTM_DELLINK message (a dump's reply or a notification)
// as a NetLink: the one reading of a link message, for dumps and the monitor.
NetLink ParseLink(const nlmsghdr *nh);

// Only the links of the namespace at netns_path (empty: ours).
std::vector<NetLink> ReadLinks(const std::string &netns_path);

// Values of sysctls (paths under /proc/sys, e.g. net/ipv4/conf/all/rp_filter)
// read from inside the namespace: /proc/sys/net shows the reading thread's
// namespace. found[i] is false when the file does not exist.
void ReadSysctls(const std::string &netns_path, const std::vector<std::string> &paths,
                 std::vector<std::string> &values, std::vector<bool> &found);

}  // namespace pmtu
