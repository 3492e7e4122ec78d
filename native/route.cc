#include "route.h"

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "errors.h"
#include "netns.h"
#include "rtnl.h"

namespace pmtu {
namespace {

void ParseMetrics(const rtattr *metrics, RouteInfo &info) {
  int len = RTA_PAYLOAD(metrics);
  for (auto *a = static_cast<const rtattr *>(RTA_DATA(metrics)); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    if (a->rta_type == RTAX_MTU && RTA_PAYLOAD(a) >= sizeof(uint32_t)) {
      memcpy(&info.mtu, RTA_DATA(a), sizeof(uint32_t));
    }
  }
}

RouteInfo LookUp(const std::string &dst) {
  struct {
    nlmsghdr nh;
    rtmsg rt;
    char attrs[64];
  } req{};
  unsigned char addr[16];
  int family = AF_INET;
  size_t addr_len = 4;
  if (inet_pton(AF_INET, dst.c_str(), addr) != 1) {
    if (inet_pton(AF_INET6, dst.c_str(), addr) != 1)
      Fail("PMTU_ERR_INVALID", "not an IP address: " + dst, "give an IPv4 or IPv6 address");
    family = AF_INET6;
    addr_len = 16;
  }
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(rtmsg));
  req.nh.nlmsg_type = RTM_GETROUTE;
  req.rt.rtm_family = family;
  req.rt.rtm_dst_len = addr_len * 8;
  auto *attr = reinterpret_cast<rtattr *>(reinterpret_cast<char *>(&req) + NLMSG_ALIGN(req.nh.nlmsg_len));
  attr->rta_type = RTA_DST;
  attr->rta_len = RTA_LENGTH(addr_len);
  memcpy(RTA_DATA(attr), addr, addr_len);
  req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_ALIGN(attr->rta_len);

  RouteInfo info;
  RtnlSocket rtnl;  // sockets belong to the namespace of the thread that made them
  // NLMSG_ERROR (no route) leaves info.found false.
  rtnl.Exchange(&req.nh, false, [&](const nlmsghdr *nh) {
    if (nh->nlmsg_type != RTM_NEWROUTE) return;
    info.found = true;
    auto *rt = static_cast<const rtmsg *>(NLMSG_DATA(nh));
    int len = RTM_PAYLOAD(nh);
    for (auto *a = RTM_RTA(rt); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
      if (a->rta_type == RTA_METRICS) ParseMetrics(a, info);
      if (a->rta_type == RTA_OIF && RTA_PAYLOAD(a) >= sizeof(int)) memcpy(&info.ifindex, RTA_DATA(a), sizeof(int));
      if (a->rta_type == RTA_CACHEINFO && RTA_PAYLOAD(a) >= sizeof(rta_cacheinfo)) {
        rta_cacheinfo ci;
        memcpy(&ci, RTA_DATA(a), sizeof(ci));
        info.expires = ci.rta_expires / 100;  // clock ticks (USER_HZ) to seconds
      }
    }
  });
  return info;
}

}  // namespace

RouteInfo GetRoute(const std::string &netns_path, const std::string &dst) {
  RouteInfo info;
  RunInNetns(netns_path, [&] { info = LookUp(dst); });
  return info;
}

}  // namespace pmtu
