// Requests and dumps over a NETLINK_ROUTE socket: the one place that talks
// rtnetlink for links, addresses, routes, nsids and tc filters.
#pragma once

#include <linux/netlink.h>

#include <functional>

namespace pmtu {

// A NETLINK_ROUTE socket of the calling thread's namespace, closed on scope
// exit. Throws Failure (PMTU_ERR_NETNS) when it cannot be made or used.
class RtnlSocket {
 public:
  RtnlSocket();
  ~RtnlSocket();
  RtnlSocket(const RtnlSocket &) = delete;
  RtnlSocket &operator=(const RtnlSocket &) = delete;

  // Sends one request and hands every reply message to fn until NLMSG_DONE
  // (dumps) or the first message (plain requests). Returns the error a
  // NLMSG_ERROR carried (0: none).
  int Exchange(nlmsghdr *req, bool dump, const std::function<void(const nlmsghdr *)> &fn);

  // The kernel honours a dump request's filters (RTM_F_CLONED: the route
  // cache) only when asked to check requests strictly.
  void StrictCheck();

 private:
  int fd_;
  unsigned seq_ = 0;
};

}  // namespace pmtu
