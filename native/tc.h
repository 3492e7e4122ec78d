// tc clsact attachment that leaves an interface's tc setup as it found it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

struct pmtu_config;

namespace pmtu {

struct TcAttachment {
  std::string netns;  // namespace file, empty for ours
  int ifindex = 0;
  std::string ifname;
  unsigned priority = 0;
  bool created_clsact = false;  // we made the qdisc (a pmtu-watch made it: see the marker in tc.cc)
  std::string clsact_marker;    // the marker's path for this interface, removed if the interface goes
};

// Attaches the two programs to clsact ingress and egress of ifindex inside
// the namespace. Creates clsact only when missing, and remembers that.
TcAttachment AttachTc(const std::string &netns, int ifindex, int ingress_fd, int egress_fd);

// Removes our two filters; removes clsact only if a pmtu-watch created it
// (this one, or another that left first) and no other filter is left on it.
// A vanished interface is not an error.
void DetachTc(const TcAttachment &a);

// Our filters' handle: a fixed value lets a later run recognise them.
constexpr unsigned kTcHandle = 0x504d;  // "PM"

// A filter of ours that a killed pmtu-watch left behind, as removed.
struct TcLeftover {
  std::string ifname;
  int ifindex = 0;
  std::string direction;  // "ingress" or "egress"
  unsigned priority = 0;
  uint32_t prog_id = 0;
  uint32_t owner_pid = 0;  // 0 when the program does not say
};

// Finds, on every interface of the namespace, filters that are ours (our
// handle, a program named pmtu_tc_*) and dead (no process holds their
// program: the observer that attached them was killed), and removes them.
// Filters of running observers, this one included, and of any other program
// are never touched. A dead owner in another pid namespace that we cannot
// see into is left alone too.
std::vector<TcLeftover> RemoveLeftoverTc(const std::string &netns);

// Writes who loads the programs into their settings, for RemoveLeftoverTc.
void StampOwner(struct pmtu_config *config);

}  // namespace pmtu
