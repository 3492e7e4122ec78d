#include "tc.h"

#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <linux/netlink.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "errors.h"
#include "netns.h"

namespace pmtu {
namespace {

// Runs first (lowest number) so a later filter that drops a packet cannot
// hide it from us; our programs return TC_ACT_UNSPEC, so the rest still run.
// Higher priorities are tried when another filter kind holds this one.
constexpr unsigned kFirstPriority = 1;
constexpr unsigned kLastPriority = 16;

// Number of filters on one clsact direction (a netlink dump; libbpf has no
// call for it). -1 when the dump failed.
int CountFilters(int ifindex, unsigned parent) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -1;
  struct {
    nlmsghdr nh;
    tcmsg tc;
  } req{};
  req.nh.nlmsg_len = sizeof(req);
  req.nh.nlmsg_type = RTM_GETTFILTER;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.nh.nlmsg_seq = 1;
  req.tc.tcm_family = AF_UNSPEC;
  req.tc.tcm_ifindex = ifindex;
  req.tc.tcm_parent = parent;
  int count = -1;
  if (send(fd, &req, sizeof(req), 0) == static_cast<ssize_t>(sizeof(req))) {
    count = 0;
    alignas(nlmsghdr) char buf[16384];
    for (bool done = false; !done;) {
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) {
        count = -1;
        break;
      }
      for (auto *nh = reinterpret_cast<nlmsghdr *>(buf); NLMSG_OK(nh, n); nh = NLMSG_NEXT(nh, n)) {
        if (nh->nlmsg_type == NLMSG_DONE) {
          done = true;
          break;
        }
        if (nh->nlmsg_type == NLMSG_ERROR) {
          count = -1;
          done = true;
          break;
        }
        if (nh->nlmsg_type == RTM_NEWTFILTER) count++;
      }
    }
  }
  close(fd);
  return count;
}

bpf_tc_hook Hook(int ifindex, bpf_tc_attach_point point) {
  bpf_tc_hook hook{};
  hook.sz = sizeof(hook);
  hook.ifindex = ifindex;
  hook.attach_point = point;
  return hook;
}

bpf_tc_opts Opts(unsigned priority, int prog_fd) {
  bpf_tc_opts opts{};
  opts.sz = sizeof(opts);
  opts.handle = kTcHandle;
  opts.priority = priority;
  opts.prog_fd = prog_fd;
  return opts;
}

void DetachHere(const TcAttachment &a) {
  for (auto point : {BPF_TC_INGRESS, BPF_TC_EGRESS}) {
    bpf_tc_hook hook = Hook(a.ifindex, point);
    bpf_tc_opts opts = Opts(a.priority, 0);
    int err = bpf_tc_detach(&hook, &opts);
    if (err && err != -ENOENT && err != -ENODEV && err != -EINVAL)
      throw FailureFromErrno(err, "removing tc filter from " + a.ifname, "PMTU_ERR_ATTACH");
  }
  if (!a.created_clsact) return;
  int ingress = CountFilters(a.ifindex, TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS));
  int egress = CountFilters(a.ifindex, TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS));
  if (ingress != 0 || egress != 0) return;  // someone else's filters live there now
  bpf_tc_hook hook = Hook(a.ifindex, static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  int err = bpf_tc_hook_destroy(&hook);
  if (err && err != -ENOENT && err != -ENODEV && err != -EINVAL)
    throw FailureFromErrno(err, "removing clsact from " + a.ifname, "PMTU_ERR_ATTACH");
}

}  // namespace

TcAttachment AttachTc(const std::string &netns, int ifindex, int ingress_fd, int egress_fd) {
  TcAttachment a;
  a.netns = netns;
  a.ifindex = ifindex;
  RunInNetns(netns, [&] {
    char name[IF_NAMESIZE] = {};
    if (!if_indextoname(ifindex, name)) {
      Fail("PMTU_ERR_NO_DEVICE",
           "no interface with index " + std::to_string(ifindex) +
               (netns.empty() ? std::string() : " in " + netns),
           "check the interface with `ip link`");
    }
    a.ifname = name;
    bpf_tc_hook hook = Hook(ifindex, BPF_TC_INGRESS);
    int err = bpf_tc_hook_create(&hook);  // creates clsact; EEXIST: it was there
    if (err && err != -EEXIST)
      throw FailureFromErrno(err, "creating clsact on " + a.ifname, "PMTU_ERR_ATTACH");
    a.created_clsact = err == 0;

    int last_err = 0;
    for (unsigned prio = kFirstPriority; prio <= kLastPriority; prio++) {
      bpf_tc_hook in = Hook(ifindex, BPF_TC_INGRESS);
      bpf_tc_hook out = Hook(ifindex, BPF_TC_EGRESS);
      bpf_tc_opts in_opts = Opts(prio, ingress_fd);
      bpf_tc_opts out_opts = Opts(prio, egress_fd);
      in_opts.flags = out_opts.flags = BPF_TC_F_REPLACE;
      // REPLACE: a filter with our handle at this priority is ours, left by a
      // run that was killed; any other filter is never touched.
      last_err = bpf_tc_attach(&in, &in_opts);
      if (last_err == 0) {
        last_err = bpf_tc_attach(&out, &out_opts);
        if (last_err == 0) {
          a.priority = prio;
          return;
        }
        bpf_tc_opts undo = Opts(prio, 0);
        bpf_tc_detach(&in, &undo);
      }
      if (last_err != -EEXIST && last_err != -EINVAL && last_err != -EBUSY) break;
    }
    if (a.created_clsact) {
      bpf_tc_hook both = Hook(ifindex, static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
      bpf_tc_hook_destroy(&both);
    }
    throw FailureFromErrno(last_err, "attaching to tc on " + a.ifname, "PMTU_ERR_ATTACH");
  });
  return a;
}

void DetachTc(const TcAttachment &a) {
  try {
    RunInNetns(a.netns, [&] { DetachHere(a); });
  } catch (const Failure &f) {
    // The namespace is gone, and with it the interface and its filters.
    if (f.code != "PMTU_ERR_NETNS") throw;
  }
}

}  // namespace pmtu
