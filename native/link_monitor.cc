#include "link_monitor.h"

#include <linux/netlink.h>
#include <pthread.h>
#include <linux/rtnetlink.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "errors.h"
#include "netns.h"

namespace pmtu {

struct LinkNotice {
  uint32_t id;   // the namespace, as add() numbered it
  bool removed;  // RTM_DELLINK; else RTM_NEWLINK (the link's whole state)
  uint64_t ts_ns;  // CLOCK_MONOTONIC at receipt, the clock of the ring buffer's records
  NetLink link;
};

struct LinkBatch {
  std::vector<LinkNotice> notices;
  std::vector<std::pair<uint32_t, uint64_t>> overruns;  // id, notifications lost
};

namespace {

// Messages read from one socket per wake-up: a namespace in a storm of
// changes does not keep the others waiting.
constexpr int kReadsPerWakeup = 256;

void DeliverLinkBatch(Napi::Env env, Napi::Function on_batch, LinkBatch *raw) {
  std::unique_ptr<LinkBatch> batch(raw);
  if (env == nullptr) return;  // the environment is going away
  Napi::Array notices = Napi::Array::New(env, batch->notices.size());
  for (size_t i = 0; i < batch->notices.size(); i++) {
    const LinkNotice &n = batch->notices[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("id", n.id);
    o.Set("type", n.removed ? "del" : "new");
    o.Set("tsNs", static_cast<double>(n.ts_ns));
    o.Set("link", LinkObject(env, n.link));
    notices.Set(i, o);
  }
  Napi::Array overruns = Napi::Array::New(env, batch->overruns.size());
  for (size_t i = 0; i < batch->overruns.size(); i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("id", batch->overruns[i].first);
    o.Set("count", static_cast<double>(batch->overruns[i].second));
    overruns.Set(i, o);
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("notices", notices);
  o.Set("overruns", overruns);
  on_batch.Call({o});
}

void CleanupHook(void *arg) {
  static_cast<LinkMonitor *>(arg)->Shutdown();
}

uint64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

Napi::Function LinkMonitor::Define(Napi::Env env) {
  return DefineClass(env, "LinkMonitor",
                     {
                         InstanceMethod<&LinkMonitor::Start>("start"),
                         InstanceMethod<&LinkMonitor::Add>("add"),
                         InstanceMethod<&LinkMonitor::Remove>("remove"),
                         InstanceMethod<&LinkMonitor::Counters>("counters"),
                         InstanceMethod<&LinkMonitor::Stop>("stop"),
                     });
}

LinkMonitor::LinkMonitor(const Napi::CallbackInfo &info) : Napi::ObjectWrap<LinkMonitor>(info) {
  try {
    if (info.Length() > 0 && info[0].IsObject()) {
      Napi::Object o = info[0].As<Napi::Object>();
      receive_buffer_bytes_ = static_cast<int>(OptionalUint(o, "receiveBufferBytes", receive_buffer_bytes_));
      max_queued_batches_ = OptionalUint(o, "maxQueuedBatches", max_queued_batches_);
      max_pending_notices_ = OptionalUint(o, "maxPendingNotices", max_pending_notices_);
    }
  } catch (const Failure &f) {
    ToJsError(info.Env(), f).ThrowAsJavaScriptException();
  }
}

LinkMonitor::~LinkMonitor() {
  // Only joins and closes descriptors: JavaScript objects are not touched from a finalizer.
  stopping_ = true;
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
  }
  if (thread_.joinable()) thread_.join();
  CloseAll();
}

Napi::Value LinkMonitor::Start(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  try {
    if (started_ || stopping_) Fail("PMTU_ERR_STATE", "link monitor already started", "create a new LinkMonitor");
    if (info.Length() < 1 || !info[0].IsFunction())
      Fail("PMTU_ERR_INVALID", "start() needs a batch callback", "start((batch) => ...)");
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) throw FailureFromErrno(errno, "epoll_create1", "PMTU_ERR_STATE");
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) throw FailureFromErrno(errno, "eventfd", "PMTU_ERR_STATE");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = 0;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) != 0) throw FailureFromErrno(errno, "epoll_ctl", "PMTU_ERR_STATE");
    deliver_ = Napi::ThreadSafeFunction::New(env, info[0].As<Napi::Function>(), "pmtu-watch link monitor",
                                             max_queued_batches_, 1);
    started_ = true;
    Ref();  // a running monitor is never collected; Shutdown() lets go
    napi_add_env_cleanup_hook(env, CleanupHook, this);
    cleanup_hook_ = true;
    thread_ = std::thread(&LinkMonitor::Loop, this);
  } catch (const Failure &f) {
    Shutdown();
    ToJsError(env, f).ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

Napi::Value LinkMonitor::Add(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = -1;
  try {
    if (!started_ || stopping_) Fail("PMTU_ERR_STATE", "add() before start()", "call start() first");
    if (info.Length() < 1 || !(info[0].IsString() || info[0].IsNull()))
      Fail("PMTU_ERR_INVALID", "add(netns: string | null)", "see native/index.d.ts");
    std::string netns = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
    const std::string where = netns.empty() ? "this namespace" : netns;
    double inode = 0;
    // A socket belongs to the namespace it was made in: made on a thread that entered it.
    RunInNetns(netns, [&] {
      fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
      if (fd < 0) throw FailureFromErrno(errno, "netlink socket in " + where, "PMTU_ERR_NETNS");
      struct stat st {};
      if (stat("/proc/thread-self/ns/net", &st) == 0) inode = static_cast<double>(st.st_ino);
    });
    // A burst (a host bringing up its containers) fits; beyond it, ENOBUFS says so.
    int size = receive_buffer_bytes_;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0)
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    sockaddr_nl sa{};
    sa.nl_family = AF_NETLINK;
    sa.nl_groups = RTMGRP_LINK;
    if (bind(fd, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)) != 0)
      throw FailureFromErrno(errno, "subscribing to link changes in " + where, "PMTU_ERR_NETNS");
    uint32_t id;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      id = next_id_++;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u32 = id;
      if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0)
        throw FailureFromErrno(errno, "epoll_ctl", "PMTU_ERR_STATE");
      sockets_[id].fd = fd;
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("id", id);
    o.Set("netnsInode", inode);
    return o;
  } catch (const Failure &f) {
    if (fd >= 0) close(fd);
    ToJsError(env, f).ThrowAsJavaScriptException();
    return env.Undefined();
  }
}

Napi::Value LinkMonitor::Remove(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  try {
    if (info.Length() < 1 || !info[0].IsNumber()) Fail("PMTU_ERR_INVALID", "remove(id: number)", "see native/index.d.ts");
    uint32_t id = info[0].As<Napi::Number>().Uint32Value();
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = sockets_.find(id);
    if (it == sockets_.end()) Fail("PMTU_ERR_STATE", "no namespace watched as " + std::to_string(id), "ids come from add()");
    // Under the lock: the thread never reads a socket that is being closed.
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->second.fd, nullptr);
    close(it->second.fd);
    sockets_.erase(it);
  } catch (const Failure &f) {
    ToJsError(env, f).ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

Napi::Value LinkMonitor::Counters(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("notices", static_cast<double>(notices_.load()));
  o.Set("overruns", static_cast<double>(overruns_.load()));
  o.Set("queueFull", static_cast<double>(queue_full_.load()));
  size_t watching;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    watching = sockets_.size();
  }
  o.Set("namespaces", static_cast<double>(watching));
  return o;
}

void LinkMonitor::ReadSocket(uint32_t id, Socket &s, LinkBatch &batch) {
  alignas(nlmsghdr) static thread_local char buf[64 * 1024];
  for (int reads = 0; reads < kReadsPerWakeup; reads++) {
    sockaddr_nl from{};
    iovec iov{buf, sizeof(buf)};
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof(from);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    ssize_t len = recvmsg(s.fd, &msg, MSG_DONTWAIT);
    if (len < 0 && errno == EINTR) continue;
    if (len < 0 && errno == ENOBUFS) {  // the kernel dropped notifications: JavaScript reads the namespace again
      s.overruns++;
      overruns_++;
      continue;
    }
    if (len <= 0) return;  // drained (EAGAIN)
    if (from.nl_pid != 0) continue;  // only the kernel's
    if (msg.msg_flags & MSG_TRUNC) {  // larger than any link message we know: as lost
      s.overruns++;
      overruns_++;
      continue;
    }
    uint64_t ts = MonotonicNs();
    int left = static_cast<int>(len);
    for (auto *nh = reinterpret_cast<const nlmsghdr *>(buf); NLMSG_OK(nh, left); nh = NLMSG_NEXT(nh, left)) {
      if (nh->nlmsg_type != RTM_NEWLINK && nh->nlmsg_type != RTM_DELLINK) continue;
      if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) continue;
      // AF_BRIDGE messages are a bridge's view of its port (an RTM_DELLINK of
      // that family means "no longer a port"), not the link itself.
      if (static_cast<const ifinfomsg *>(NLMSG_DATA(nh))->ifi_family != AF_UNSPEC) continue;
      if (batch.notices.size() >= max_pending_notices_) {  // JavaScript that far behind: it reads the namespace again instead
        s.overruns++;
        queue_full_++;
        continue;
      }
      batch.notices.push_back({id, nh->nlmsg_type == RTM_DELLINK, ts, ParseLink(nh)});
    }
  }
}

std::unique_ptr<LinkBatch> LinkMonitor::Deliver(std::unique_ptr<LinkBatch> batch) {
  size_t count = batch->notices.size();
  napi_status status = deliver_.NonBlockingCall(batch.get(), DeliverLinkBatch);
  if (status == napi_ok) {
    batch.release();  // DeliverLinkBatch owns it now
    notices_ += count;
    return nullptr;
  }
  if (status == napi_queue_full) return batch;  // grows until JavaScript takes it
  return nullptr;  // closing: nobody left to tell
}

void LinkMonitor::Loop() {
  pthread_setname_np(pthread_self(), "pmtu-links");
  epoll_event events[64];
  while (!stopping_) {
    // A batch waiting for room in JavaScript's queue is tried again soon even if nothing else happens.
    int n = epoll_wait(epoll_fd_, events, 64, pending_ ? 10 : -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || stopping_) break;
    std::unique_ptr<LinkBatch> batch = pending_ ? std::move(pending_) : std::make_unique<LinkBatch>();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (int i = 0; i < n; i++) {
        uint32_t id = events[i].data.u32;
        if (id == 0) continue;  // the wake fd: stopping_ is checked above
        auto it = sockets_.find(id);
        if (it != sockets_.end()) ReadSocket(id, it->second, *batch);  // gone: remove()d meanwhile
      }
      for (auto &[id, s] : sockets_) {
        if (s.overruns == 0) continue;
        auto said = std::find_if(batch->overruns.begin(), batch->overruns.end(), [id = id](const auto &o) { return o.first == id; });
        if (said != batch->overruns.end())
          said->second += s.overruns;  // a batch that waited: once per namespace
        else
          batch->overruns.emplace_back(id, s.overruns);
        s.overruns = 0;
      }
    }
    if (batch->notices.empty() && batch->overruns.empty()) continue;
    pending_ = Deliver(std::move(batch));
  }
  pending_.reset();
}

void LinkMonitor::CloseAll() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto &[id, s] : sockets_) close(s.fd);
  sockets_.clear();
  if (epoll_fd_ >= 0) close(epoll_fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
  epoll_fd_ = wake_fd_ = -1;
}

Napi::Value LinkMonitor::Stop(const Napi::CallbackInfo &info) {
  Shutdown();
  return info.Env().Undefined();
}

void LinkMonitor::Shutdown() {
  stopping_ = true;
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
  }
  if (thread_.joinable()) thread_.join();
  if (started_) {
    deliver_.Release();
    started_ = false;
    Unref();
  }
  if (cleanup_hook_) {
    napi_remove_env_cleanup_hook(Env(), CleanupHook, this);
    cleanup_hook_ = false;
  }
  CloseAll();
}

}  // namespace pmtu
