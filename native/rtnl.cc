#include "rtnl.h"

#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "errors.h"

namespace pmtu {

RtnlSocket::RtnlSocket() {
  fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd_ < 0) Fail("PMTU_ERR_NETNS", std::string("netlink socket: ") + strerror(errno), "run as root");
  timeval tv{2, 0};  // a kernel that never answers must not hang the caller
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

RtnlSocket::~RtnlSocket() { close(fd_); }

void RtnlSocket::StrictCheck() {
  int on = 1;
  setsockopt(fd_, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &on, sizeof(on));
}

int RtnlSocket::Exchange(nlmsghdr *req, bool dump, const std::function<void(const nlmsghdr *)> &fn) {
  req->nlmsg_seq = ++seq_;
  req->nlmsg_flags = NLM_F_REQUEST | (dump ? NLM_F_DUMP : 0);
  if (send(fd_, req, req->nlmsg_len, 0) != static_cast<ssize_t>(req->nlmsg_len))
    Fail("PMTU_ERR_NETNS", std::string("netlink send: ") + strerror(errno), "run as root");
  alignas(nlmsghdr) static thread_local char buf[64 * 1024];
  for (;;) {
    ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) Fail("PMTU_ERR_NETNS", std::string("netlink receive: ") + strerror(n < 0 ? errno : EPIPE), "try again");
    for (auto *nh = reinterpret_cast<nlmsghdr *>(buf); NLMSG_OK(nh, n); nh = NLMSG_NEXT(nh, n)) {
      if (nh->nlmsg_seq != seq_) continue;
      if (nh->nlmsg_type == NLMSG_DONE) return 0;
      if (nh->nlmsg_type == NLMSG_ERROR) return -static_cast<const nlmsgerr *>(NLMSG_DATA(nh))->error;
      fn(nh);
      if (!dump) return 0;
    }
  }
}

}  // namespace pmtu
