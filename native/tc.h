// tc clsact attachment that leaves an interface's tc setup as it found it.
#pragma once

#include <string>

namespace pmtu {

struct TcAttachment {
  std::string netns;  // namespace file, empty for ours
  int ifindex = 0;
  std::string ifname;
  unsigned priority = 0;
  bool created_clsact = false;  // we made the qdisc, so we may remove it
};

// Attaches the two programs to clsact ingress and egress of ifindex inside
// the namespace. Creates clsact only when missing, and remembers that.
TcAttachment AttachTc(const std::string &netns, int ifindex, int ingress_fd, int egress_fd);

// Removes our two filters; removes clsact only if we created it and no other
// filter is left on it. A vanished interface is not an error.
void DetachTc(const TcAttachment &a);

// Our filters' handle: a fixed value lets a later run recognise them.
constexpr unsigned kTcHandle = 0x504d;  // "PM"

}  // namespace pmtu
