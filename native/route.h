// Route lookups over rtnetlink: what `ip route get` shows, including a
// cached path MTU that a PTB taught the kernel.
#pragma once

#include <string>

namespace pmtu {

struct RouteInfo {
  bool found = false;
  unsigned mtu = 0;      // cached path MTU (RTAX_MTU), 0 when none
  unsigned expires = 0;  // seconds left on the cached entry
  int ifindex = 0;
};

// Looks up the route to dst (IPv4 or IPv6 text) in the namespace at
// netns_path (empty: ours).
RouteInfo GetRoute(const std::string &netns_path, const std::string &dst);

}  // namespace pmtu
