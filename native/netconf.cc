#include "netconf.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/if_tunnel.h>
#include <linux/net_namespace.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>

#include "errors.h"
#include "netns.h"
#include "rtnl.h"

namespace pmtu {
namespace {

template <typename T>
T AttrValue(const rtattr *a) {
  T v{};
  if (RTA_PAYLOAD(a) >= sizeof(T)) memcpy(&v, RTA_DATA(a), sizeof(T));
  return v;
}

std::string AttrString(const rtattr *a) {
  const char *s = static_cast<const char *>(RTA_DATA(a));
  return std::string(s, strnlen(s, RTA_PAYLOAD(a)));
}

// An address attribute as text; "" when its length is neither IPv4 nor IPv6.
std::string AttrAddress(const rtattr *a) {
  char text[INET6_ADDRSTRLEN] = "";
  if (RTA_PAYLOAD(a) == 4) inet_ntop(AF_INET, RTA_DATA(a), text, sizeof(text));
  if (RTA_PAYLOAD(a) == 16) inet_ntop(AF_INET6, RTA_DATA(a), text, sizeof(text));
  return text;
}

// Visits the attributes nested in a.
void Nested(const rtattr *a, const std::function<void(const rtattr *)> &fn) {
  int len = RTA_PAYLOAD(a);
  for (auto *n = static_cast<const rtattr *>(RTA_DATA(a)); RTA_OK(n, len); n = RTA_NEXT(n, len)) fn(n);
}

bool IsUnspecified(const std::string &address) { return address.empty() || address == "0.0.0.0" || address == "::"; }

// IFLA_INFO_DATA of the tunnel kinds whose overhead audit knows.
void ParseTunnelData(const std::string &kind, const rtattr *data, NetLink &link) {
  static const char *const kTunnelKinds[] = {"vxlan", "geneve", "gre", "gretap", "ip6gre", "ip6gretap",
                                             "erspan", "ip6erspan", "ipip", "sit", "ip6tnl"};
  for (const char *k : kTunnelKinds) link.is_tunnel |= kind == k;
  if (!link.is_tunnel) return;
  Nested(data, [&](const rtattr *a) {
    if (kind == "vxlan") {
      switch (a->rta_type) {
        case IFLA_VXLAN_LINK: link.tunnel_lower = AttrValue<uint32_t>(a); break;
        case IFLA_VXLAN_GROUP:
        case IFLA_VXLAN_GROUP6: link.tunnel_remote = AttrAddress(a); break;
        case IFLA_VXLAN_LOCAL:
        case IFLA_VXLAN_LOCAL6: link.tunnel_local = AttrAddress(a); break;
      }
    } else if (kind == "geneve") {
      if (a->rta_type == IFLA_GENEVE_REMOTE || a->rta_type == IFLA_GENEVE_REMOTE6) link.tunnel_remote = AttrAddress(a);
    } else if (kind == "gre" || kind == "gretap" || kind == "ip6gre" || kind == "ip6gretap" || kind == "erspan" ||
               kind == "ip6erspan") {
      switch (a->rta_type) {
        case IFLA_GRE_LINK: link.tunnel_lower = AttrValue<uint32_t>(a); break;
        case IFLA_GRE_REMOTE: link.tunnel_remote = AttrAddress(a); break;
        case IFLA_GRE_LOCAL: link.tunnel_local = AttrAddress(a); break;
        case IFLA_GRE_OFLAGS: link.gre_oflags = ntohs(AttrValue<uint16_t>(a)); break;
        case IFLA_GRE_ENCAP_LIMIT: link.encap_limit = AttrValue<uint8_t>(a); break;
        case IFLA_GRE_FLAGS: link.tunnel_flags = AttrValue<uint32_t>(a); break;
      }
    } else if (kind == "ipip" || kind == "sit" || kind == "ip6tnl") {
      switch (a->rta_type) {
        case IFLA_IPTUN_LINK: link.tunnel_lower = AttrValue<uint32_t>(a); break;
        case IFLA_IPTUN_REMOTE: link.tunnel_remote = AttrAddress(a); break;
        case IFLA_IPTUN_LOCAL: link.tunnel_local = AttrAddress(a); break;
        case IFLA_IPTUN_ENCAP_LIMIT: link.encap_limit = AttrValue<uint8_t>(a); break;
        case IFLA_IPTUN_FLAGS: link.tunnel_flags = AttrValue<uint32_t>(a); break;
      }
    }
  });
  if (IsUnspecified(link.tunnel_remote)) link.tunnel_remote.clear();
  if (IsUnspecified(link.tunnel_local)) link.tunnel_local.clear();
}

}  // namespace

NetLink ParseLink(const nlmsghdr *nh) {
  auto *ifi = static_cast<const ifinfomsg *>(NLMSG_DATA(nh));
  NetLink link;
  link.ifindex = ifi->ifi_index;
  link.up = (ifi->ifi_flags & IFF_UP) != 0;
  const rtattr *info_data = nullptr;
  int len = IFLA_PAYLOAD(nh);
  for (auto *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    switch (a->rta_type) {
      case IFLA_IFNAME: link.name = AttrString(a); break;
      case IFLA_MTU: link.mtu = AttrValue<uint32_t>(a); break;
      case IFLA_MASTER: link.master = AttrValue<int32_t>(a); break;
      case IFLA_LINK: link.link = AttrValue<int32_t>(a); break;
      case IFLA_LINK_NETNSID: link.link_netnsid = AttrValue<int32_t>(a); break;
      case IFLA_LINKINFO:
        Nested(a, [&](const rtattr *i) {
          if (i->rta_type == IFLA_INFO_KIND) link.kind = AttrString(i);
          if (i->rta_type == IFLA_INFO_DATA) info_data = i;
        });
        break;
    }
  }
  if (info_data) ParseTunnelData(link.kind, info_data, link);
  // IFLA_LINK of a device that is its own link carries no information.
  if (link.link == link.ifindex && link.link_netnsid < 0) link.link = 0;
  return link;
}

namespace {

std::vector<NetLink> DumpLinks(RtnlSocket &rtnl) {
  struct {
    nlmsghdr nh;
    ifinfomsg ifi;
  } req{};
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
  req.nh.nlmsg_type = RTM_GETLINK;
  req.ifi.ifi_family = AF_UNSPEC;
  std::vector<NetLink> links;
  int err = rtnl.Exchange(&req.nh, true, [&](const nlmsghdr *nh) {
    if (nh->nlmsg_type == RTM_NEWLINK) links.push_back(ParseLink(nh));
  });
  if (err) Fail("PMTU_ERR_NETNS", std::string("listing links: ") + strerror(err), "run as root");
  return links;
}

std::vector<NetAddress> DumpAddresses(RtnlSocket &rtnl) {
  struct {
    nlmsghdr nh;
    ifaddrmsg ifa;
  } req{};
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(ifaddrmsg));
  req.nh.nlmsg_type = RTM_GETADDR;
  req.ifa.ifa_family = AF_UNSPEC;
  std::vector<NetAddress> addresses;
  int err = rtnl.Exchange(&req.nh, true, [&](const nlmsghdr *nh) {
    if (nh->nlmsg_type != RTM_NEWADDR) return;
    auto *ifa = static_cast<const ifaddrmsg *>(NLMSG_DATA(nh));
    NetAddress address;
    address.ifindex = static_cast<int>(ifa->ifa_index);
    address.family = ifa->ifa_family == AF_INET6 ? 6 : 4;
    address.prefix_len = ifa->ifa_prefixlen;
    std::string local, peer;
    int len = IFA_PAYLOAD(nh);
    for (auto *a = IFA_RTA(ifa); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
      if (a->rta_type == IFA_LOCAL) local = AttrAddress(a);
      if (a->rta_type == IFA_ADDRESS) peer = AttrAddress(a);
    }
    // IFA_LOCAL is the host's own address; IFA_ADDRESS is the peer's on
    // point-to-point links and the same as IFA_LOCAL elsewhere (IPv6 sends only it).
    address.address = local.empty() ? peer : local;
    if (!address.address.empty()) addresses.push_back(address);
  });
  if (err) Fail("PMTU_ERR_NETNS", std::string("listing addresses: ") + strerror(err), "run as root");
  return addresses;
}

void ParseMetrics(const rtattr *metrics, NetRoute &route) {
  Nested(metrics, [&](const rtattr *a) {
    if (a->rta_type == RTAX_MTU) route.mtu = AttrValue<uint32_t>(a);
    if (a->rta_type == RTAX_ADVMSS) route.advmss = AttrValue<uint32_t>(a);
  });
}

// cached: the path MTU exceptions instead of the routes (the socket must check strictly).
void DumpRoutes(RtnlSocket &rtnl, int family, std::vector<NetRoute> &routes, bool cached = false) {
  struct {
    nlmsghdr nh;
    rtmsg rt;
  } req{};
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(rtmsg));
  req.nh.nlmsg_type = RTM_GETROUTE;
  req.rt.rtm_family = family;
  if (cached) req.rt.rtm_flags = RTM_F_CLONED;
  int err = rtnl.Exchange(&req.nh, true, [&](const nlmsghdr *nh) {
    if (nh->nlmsg_type != RTM_NEWROUTE) return;
    auto *rt = static_cast<const rtmsg *>(NLMSG_DATA(nh));
    if (rt->rtm_family != family) return;
    if (cached && !(rt->rtm_flags & RTM_F_CLONED)) return;  // a kernel that ignored the filter
    NetRoute route;
    route.family = family == AF_INET6 ? 6 : 4;
    route.table = rt->rtm_table;
    route.type = rt->rtm_type;
    route.dst_len = rt->rtm_dst_len;
    const rtattr *multipath = nullptr;
    int len = RTM_PAYLOAD(nh);
    for (auto *a = RTM_RTA(rt); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
      switch (a->rta_type) {
        case RTA_TABLE: route.table = AttrValue<uint32_t>(a); break;
        case RTA_DST: route.dst = AttrAddress(a); break;
        case RTA_GATEWAY: route.gateway = AttrAddress(a); break;
        case RTA_OIF: route.oif = AttrValue<int32_t>(a); break;
        case RTA_PRIORITY: route.priority = AttrValue<uint32_t>(a); break;
        case RTA_METRICS: ParseMetrics(a, route); break;
        case RTA_MULTIPATH: multipath = a; break;
        case RTA_PREFSRC: route.prefsrc = AttrAddress(a); break;
        case RTA_CACHEINFO:
          if (RTA_PAYLOAD(a) >= sizeof(rta_cacheinfo)) {
            rta_cacheinfo ci;
            memcpy(&ci, RTA_DATA(a), sizeof(ci));
            route.expires = ci.rta_expires / 100;  // clock ticks (USER_HZ) to seconds
          }
          break;
      }
    }
    if (!multipath) {
      routes.push_back(route);
      return;
    }
    int mp_len = RTA_PAYLOAD(multipath);
    for (auto *nhop = static_cast<const rtnexthop *>(RTA_DATA(multipath));
         mp_len >= static_cast<int>(sizeof(rtnexthop)) && nhop->rtnh_len >= sizeof(rtnexthop) &&
         static_cast<int>(nhop->rtnh_len) <= mp_len;
         mp_len -= RTNH_ALIGN(nhop->rtnh_len), nhop = RTNH_NEXT(nhop)) {
      NetRoute hop = route;
      hop.oif = nhop->rtnh_ifindex;
      int attrs_len = nhop->rtnh_len - sizeof(rtnexthop);
      for (auto *a = RTNH_DATA(nhop); RTA_OK(a, attrs_len); a = RTA_NEXT(a, attrs_len)) {
        if (a->rta_type == RTA_GATEWAY) hop.gateway = AttrAddress(a);
      }
      routes.push_back(hop);
    }
  });
  // EAFNOSUPPORT: IPv6 is disabled in this kernel; the namespace has no IPv6 routes.
  if (err && err != EAFNOSUPPORT)
    Fail("PMTU_ERR_NETNS", std::string("listing routes: ") + strerror(err), "run as root");
}

// The nsid this namespace gives the namespace at path, -1 when it has none
// (then no link of this namespace points there).
int PeerNsid(RtnlSocket &rtnl, const std::string &path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;  // gone meanwhile (a process's namespace)
  struct {
    nlmsghdr nh;
    rtgenmsg g;
    char attrs[16];
  } req{};
  req.nh.nlmsg_len = NLMSG_LENGTH(NLMSG_ALIGN(sizeof(rtgenmsg)));
  req.nh.nlmsg_type = RTM_GETNSID;
  req.g.rtgen_family = AF_UNSPEC;
  auto *attr = reinterpret_cast<rtattr *>(reinterpret_cast<char *>(&req) + NLMSG_ALIGN(req.nh.nlmsg_len));
  attr->rta_type = NETNSA_FD;
  attr->rta_len = RTA_LENGTH(sizeof(uint32_t));
  uint32_t fd_value = static_cast<uint32_t>(fd);
  memcpy(RTA_DATA(attr), &fd_value, sizeof(fd_value));
  req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_ALIGN(attr->rta_len);
  int nsid = -1;
  rtnl.Exchange(&req.nh, false, [&](const nlmsghdr *nh) {
    if (nh->nlmsg_type != RTM_NEWNSID) return;
    int len = nh->nlmsg_len - NLMSG_LENGTH(NLMSG_ALIGN(sizeof(rtgenmsg)));
    auto *a = reinterpret_cast<const rtattr *>(static_cast<const char *>(NLMSG_DATA(nh)) + NLMSG_ALIGN(sizeof(rtgenmsg)));
    for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
      if (a->rta_type == NETNSA_NSID) nsid = AttrValue<int32_t>(a);
    }
  });
  close(fd);
  return nsid;
}

}  // namespace

std::vector<NetLink> ReadLinks(const std::string &netns_path) {
  std::vector<NetLink> links;
  RunInNetns(netns_path, [&] {
    RtnlSocket rtnl;
    links = DumpLinks(rtnl);
  });
  return links;
}

NetConfig ReadNetConfig(const std::string &netns_path, const std::vector<std::string> &peers) {
  NetConfig config;
  RunInNetns(netns_path, [&] {
    RtnlSocket rtnl;  // sockets belong to the namespace of the thread that made them
    config.links = DumpLinks(rtnl);
    config.addresses = DumpAddresses(rtnl);
    DumpRoutes(rtnl, AF_INET, config.routes);
    DumpRoutes(rtnl, AF_INET6, config.routes);
    RtnlSocket strict;
    strict.StrictCheck();
    DumpRoutes(strict, AF_INET, config.cached, true);
    DumpRoutes(strict, AF_INET6, config.cached, true);
    bool links_elsewhere = false;
    for (const NetLink &l : config.links) links_elsewhere |= l.link_netnsid >= 0;
    // nsids are only worth asking for when a link points into another namespace.
    for (const std::string &peer : peers) config.peer_nsids.push_back(links_elsewhere ? PeerNsid(rtnl, peer) : -1);
  });
  return config;
}

void ReadSysctls(const std::string &netns_path, const std::vector<std::string> &paths,
                 std::vector<std::string> &values, std::vector<bool> &found) {
  for (const std::string &p : paths) {
    if (p.empty() || p[0] == '/' || p.find("..") != std::string::npos)
      Fail("PMTU_ERR_INVALID", "not a sysctl path: " + p, "give a path under /proc/sys, e.g. net/ipv4/conf/all/rp_filter");
  }
  values.assign(paths.size(), "");
  found.assign(paths.size(), false);
  RunInNetns(netns_path, [&] {
    for (size_t i = 0; i < paths.size(); i++) {
      std::ifstream file("/proc/sys/" + paths[i]);
      if (!file) continue;
      std::stringstream text;
      text << file.rdbuf();
      std::string value = text.str();
      while (!value.empty() && (value.back() == '\n' || value.back() == ' ')) value.pop_back();
      values[i] = value;
      found[i] = true;
    }
  });
}

}  // namespace pmtu
