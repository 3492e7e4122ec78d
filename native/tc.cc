#include "tc.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <functional>
#include <set>

#include "errors.h"
#include "events.h"
#include "netns.h"
#include "rtnl.h"

namespace pmtu {
namespace {

// Runs first (lowest number) so a later filter that drops a packet cannot
// hide it from us; our programs return TC_ACT_UNSPEC, so the rest still run.
// Higher priorities are tried when another filter kind holds this one.
constexpr unsigned kFirstPriority = 1;
constexpr unsigned kLastPriority = 16;

// Calls each for every filter on one clsact direction (a netlink dump;
// libbpf has no call for it). False when the dump failed.
bool DumpFilters(int ifindex, unsigned parent, const std::function<void(const nlmsghdr *)> &each) {
  struct {
    nlmsghdr nh;
    tcmsg tc;
  } req{};
  req.nh.nlmsg_len = sizeof(req);
  req.nh.nlmsg_type = RTM_GETTFILTER;
  req.tc.tcm_family = AF_UNSPEC;
  req.tc.tcm_ifindex = ifindex;
  req.tc.tcm_parent = parent;
  try {
    RtnlSocket rtnl;
    return rtnl.Exchange(&req.nh, true, [&](const nlmsghdr *nh) {
      if (nh->nlmsg_type == RTM_NEWTFILTER) each(nh);
    }) == 0;
  } catch (const Failure &) {
    return false;
  }
}

// Number of filters on one clsact direction, -1 when the dump failed.
int CountFilters(int ifindex, unsigned parent) {
  int count = 0;
  return DumpFilters(ifindex, parent, [&](const nlmsghdr *) { count++; }) ? count : -1;
}

// A filter with our handle: where it sits and which program it runs.
struct HandleFilter {
  unsigned priority;
  uint32_t prog_id;
};

std::vector<HandleFilter> FiltersWithOurHandle(int ifindex, unsigned parent) {
  std::vector<HandleFilter> found;
  DumpFilters(ifindex, parent, [&](const nlmsghdr *nh) {
    auto *tc = static_cast<const tcmsg *>(NLMSG_DATA(nh));
    if (tc->tcm_handle != kTcHandle) return;
    int len = static_cast<int>(nh->nlmsg_len) - NLMSG_LENGTH(sizeof(*tc));
    bool bpf = false;
    uint32_t prog_id = 0;
    for (auto *a = reinterpret_cast<const rtattr *>(reinterpret_cast<const char *>(tc) + NLMSG_ALIGN(sizeof(*tc)));
         RTA_OK(a, len); a = RTA_NEXT(a, len)) {
      if (a->rta_type == TCA_KIND) bpf = strcmp(static_cast<const char *>(RTA_DATA(a)), "bpf") == 0;
      if (a->rta_type != TCA_OPTIONS) continue;
      int inner = RTA_PAYLOAD(a);
      for (auto *o = static_cast<const rtattr *>(RTA_DATA(a)); RTA_OK(o, inner); o = RTA_NEXT(o, inner))
        if (o->rta_type == TCA_BPF_ID && RTA_PAYLOAD(o) >= sizeof(uint32_t))
          memcpy(&prog_id, RTA_DATA(o), sizeof(prog_id));
    }
    if (bpf && prog_id) found.push_back({TC_H_MAJ(tc->tcm_info) >> 16, prog_id});
  });
  return found;
}

// Inode of a namespace file (/proc/self/ns/pid...), 0 when unreadable.
uint32_t NsInode(const char *path) {
  struct stat st {};
  return stat(path, &st) == 0 ? static_cast<uint32_t>(st.st_ino) : 0;
}

// A clsact that some pmtu-watch created is marked by a file named after the
// namespace and interface, so that whichever observer leaves last removes it
// (two observers on one interface: the creator may leave first) and so does
// the cleanup after a kill -9. /run is emptied at boot, with the qdiscs.
constexpr const char *kClsactMarkerDir = "/run/pmtu-watch/clsact";

std::string ClsactMarker(int ifindex) {
  // Called inside the namespace: thread-self is the namespace we entered. The
  // name too, so that a namespace inode and ifindex used again later do not
  // make another interface's qdisc look like ours.
  char name[IF_NAMESIZE] = {};
  if (!if_indextoname(ifindex, name)) name[0] = '\0';
  return std::string(kClsactMarkerDir) + "/" + std::to_string(NsInode("/proc/thread-self/ns/net")) + "-" +
         std::to_string(ifindex) + "-" + name;
}

void MarkClsact(int ifindex) {
  mkdir("/run/pmtu-watch", 0755);
  mkdir(kClsactMarkerDir, 0755);
  int fd = open(ClsactMarker(ifindex).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0) close(fd);  // best effort: without it we only keep the older, stricter rule
}

// The initial pid namespace's inode (PROC_PID_INIT_INO): from there every process is visible.
constexpr uint32_t kInitPidNs = 0xEFFFFFFCu;

// Program ids some process holds a file descriptor of (what /proc shows us).
std::set<uint32_t> HeldPrograms() {
  std::set<uint32_t> held;
  DIR *proc = opendir("/proc");
  if (!proc) return held;
  while (dirent *p = readdir(proc)) {
    if (p->d_name[0] < '0' || p->d_name[0] > '9') continue;
    std::string dir = std::string("/proc/") + p->d_name;
    DIR *fds = opendir((dir + "/fd").c_str());
    if (!fds) continue;  // gone meanwhile, or not ours to read
    while (dirent *f = readdir(fds)) {
      if (f->d_name[0] == '.') continue;
      char target[64] = {};
      if (readlink((dir + "/fd/" + f->d_name).c_str(), target, sizeof(target) - 1) <= 0) continue;
      if (strcmp(target, "anon_inode:bpf-prog") != 0) continue;
      int info = open((dir + "/fdinfo/" + f->d_name).c_str(), O_RDONLY | O_CLOEXEC);
      if (info < 0) continue;
      char text[1024] = {};
      ssize_t n = read(info, text, sizeof(text) - 1);
      close(info);
      if (n <= 0) continue;
      if (const char *id = strstr(text, "prog_id:")) held.insert(static_cast<uint32_t>(strtoul(id + 8, nullptr, 10)));
    }
    closedir(fds);
  }
  closedir(proc);
  return held;
}

// What a program of ours says about who loaded it (its .rodata's pmtu_cfg).
struct Owner {
  bool ours = false;  // named like our tc programs
  uint32_t pid = 0;
  uint32_t pidns = 0;
};

void ReadOwnerFromMap(uint32_t map_id, Owner &owner) {
  int fd = bpf_map_get_fd_by_id(map_id);
  if (fd < 0) return;
  bpf_map_info info{};
  uint32_t info_len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &info_len) == 0 && info.btf_id && info.btf_value_type_id &&
      strstr(info.name, ".rodata") && info.value_size <= 65536) {
    btf *b = btf__load_from_kernel_by_id(info.btf_id);
    const btf_type *sec = b ? btf__type_by_id(b, info.btf_value_type_id) : nullptr;
    if (sec && btf_is_datasec(sec)) {
      const btf_var_secinfo *v = btf_var_secinfos(sec);
      for (int i = 0; i < btf_vlen(sec); i++, v++) {
        const btf_type *var = btf__type_by_id(b, v->type);
        if (!var || strcmp(btf__name_by_offset(b, var->name_off), "pmtu_cfg") != 0) continue;
        if (v->size < offsetof(pmtu_config, owner_pidns) + sizeof(uint32_t)) break;  // an older layout
        std::vector<uint8_t> value(info.value_size);
        uint32_t key = 0;
        if (bpf_map_lookup_elem(fd, &key, value.data()) == 0 && v->offset + v->size <= value.size()) {
          memcpy(&owner.pid, value.data() + v->offset + offsetof(pmtu_config, owner_pid), sizeof(uint32_t));
          memcpy(&owner.pidns, value.data() + v->offset + offsetof(pmtu_config, owner_pidns), sizeof(uint32_t));
        }
        break;
      }
    }
    btf__free(b);
  }
  close(fd);
}

Owner ProgramOwner(uint32_t prog_id) {
  Owner owner;
  int fd = bpf_prog_get_fd_by_id(prog_id);
  if (fd < 0) return owner;
  uint32_t map_ids[16] = {};
  bpf_prog_info info{};
  info.nr_map_ids = 16;
  info.map_ids = reinterpret_cast<uint64_t>(map_ids);
  uint32_t info_len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &info_len) == 0) {
    owner.ours = strcmp(info.name, "pmtu_tc_ingress") == 0 || strcmp(info.name, "pmtu_tc_egress") == 0;
    for (uint32_t i = 0; owner.ours && i < info.nr_map_ids && i < 16; i++) ReadOwnerFromMap(map_ids[i], owner);
  }
  close(fd);
  return owner;
}

bpf_tc_hook Hook(int ifindex, bpf_tc_attach_point point) {
  bpf_tc_hook hook{};
  hook.sz = sizeof(hook);
  hook.ifindex = ifindex;
  hook.attach_point = point;
  return hook;
}

// Removes the clsact of ifindex when a pmtu-watch made it and no filter is
// left on it.
void RemoveOurEmptyClsact(int ifindex, bool created_here) {
  const std::string marker = ClsactMarker(ifindex);
  if (!created_here && access(marker.c_str(), F_OK) != 0) return;
  int ingress = CountFilters(ifindex, TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS));
  int egress = CountFilters(ifindex, TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS));
  if (ingress != 0 || egress != 0) return;  // someone's filters live there now
  bpf_tc_hook hook = Hook(ifindex, static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  int err = bpf_tc_hook_destroy(&hook);
  if (err && err != -ENOENT && err != -ENODEV && err != -EINVAL) return;
  unlink(marker.c_str());
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
  RemoveOurEmptyClsact(a.ifindex, a.created_clsact);
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
    if (a.created_clsact) MarkClsact(ifindex);
    a.clsact_marker = ClsactMarker(ifindex);

    int last_err = 0;
    for (unsigned prio = kFirstPriority; prio <= kLastPriority; prio++) {
      bpf_tc_hook in = Hook(ifindex, BPF_TC_INGRESS);
      bpf_tc_hook out = Hook(ifindex, BPF_TC_EGRESS);
      bpf_tc_opts in_opts = Opts(prio, ingress_fd);
      bpf_tc_opts out_opts = Opts(prio, egress_fd);
      // Never REPLACE: a filter with our handle may be a running observer's
      // (another process, or this one watching twice). A killed run's were
      // removed before we got here (RemoveLeftoverTc); EEXIST moves us on.
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
    RemoveOurEmptyClsact(ifindex, a.created_clsact);
    throw FailureFromErrno(last_err, "attaching to tc on " + a.ifname, "PMTU_ERR_ATTACH");
  });
  return a;
}

void StampOwner(pmtu_config *config) {
  config->owner_pid = static_cast<uint32_t>(getpid());
  config->owner_pidns = NsInode("/proc/self/ns/pid");
}

std::vector<TcLeftover> RemoveLeftoverTc(const std::string &netns) {
  std::vector<TcLeftover> removed;
  const uint32_t our_pidns = NsInode("/proc/self/ns/pid");
  bool scanned = false;
  std::set<uint32_t> held;  // read once, and only when a candidate turns up
  RunInNetns(netns, [&] {
    struct if_nameindex *links = if_nameindex();
    if (!links) return;
    for (struct if_nameindex *l = links; l->if_index != 0; l++) {
      for (auto point : {BPF_TC_INGRESS, BPF_TC_EGRESS}) {
        unsigned parent = TC_H_MAKE(TC_H_CLSACT, point == BPF_TC_INGRESS ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS);
        for (const HandleFilter &f : FiltersWithOurHandle(static_cast<int>(l->if_index), parent)) {
          Owner owner = ProgramOwner(f.prog_id);
          if (!owner.ours) continue;  // someone else's program under our handle: not ours to judge
          if (!scanned) {
            held = HeldPrograms();
            scanned = true;
          }
          if (held.count(f.prog_id)) continue;  // a running observer (maybe this one)
          // Nobody we can see holds it; if its owner lived in a pid namespace we
          // cannot see into, it may still be running.
          bool visible = our_pidns == kInitPidNs || owner.pidns == 0 || owner.pidns == our_pidns;
          if (!visible) continue;
          bpf_tc_hook hook = Hook(static_cast<int>(l->if_index), point);
          bpf_tc_opts opts = Opts(f.priority, 0);
          if (bpf_tc_detach(&hook, &opts) != 0) continue;  // gone meanwhile
          TcLeftover left;
          left.ifname = l->if_name;
          left.ifindex = static_cast<int>(l->if_index);
          left.direction = point == BPF_TC_INGRESS ? "ingress" : "egress";
          left.priority = f.priority;
          left.prog_id = f.prog_id;
          left.owner_pid = owner.pid;
          removed.push_back(left);
        }
      }
      // The killed run's clsact goes too when a pmtu-watch made it and nothing else is on it.
      if (!removed.empty() && removed.back().ifindex == static_cast<int>(l->if_index)) RemoveOurEmptyClsact(l->if_index, false);
    }
    if_freenameindex(links);
  });
  return removed;
}

void DetachTc(const TcAttachment &a) {
  bool interface_gone = false;
  try {
    RunInNetns(a.netns, [&] {
      char name[IF_NAMESIZE];
      interface_gone = if_indextoname(a.ifindex, name) == nullptr;
      if (!interface_gone) DetachHere(a);
    });
  } catch (const Failure &f) {
    // The namespace is gone, and with it the interface and its filters.
    if (f.code != "PMTU_ERR_NETNS") throw;
    interface_gone = true;
  }
  // Its qdisc went with it: a marker left now would only outlive it (containers come and go).
  if (interface_gone && !a.clsact_marker.empty()) unlink(a.clsact_marker.c_str());
}

}  // namespace pmtu
