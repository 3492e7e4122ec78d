#include "probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <linux/icmp.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "errors.h"
#include "netns.h"

namespace pmtu {
namespace {

struct Address {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = 0;
};

Address ParseAddress(const std::string &text, uint16_t port) {
  Address a;
  auto *v4 = reinterpret_cast<sockaddr_in *>(&a.ss);
  auto *v6 = reinterpret_cast<sockaddr_in6 *>(&a.ss);
  if (inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    a.len = sizeof(*v4);
    a.family = AF_INET;
  } else if (inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    a.len = sizeof(*v6);
    a.family = AF_INET6;
  } else {
    Fail("PMTU_ERR_INVALID", "not an IP address: " + text, "give an IPv4 or IPv6 address");
  }
  return a;
}

std::string AddressText(const sockaddr *sa) {
  char buf[INET6_ADDRSTRLEN] = "";
  if (sa->sa_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in *>(sa)->sin_addr, buf, sizeof(buf));
  else if (sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6 *>(sa)->sin6_addr, buf, sizeof(buf));
  return buf;
}

void SetInt(int fd, int level, int name, int value, const char *what) {
  if (setsockopt(fd, level, name, &value, sizeof(value)) != 0)
    throw FailureFromErrno(errno, std::string("setsockopt ") + what, "PMTU_ERR_INVALID");
}

// Made inside the namespace (a socket stays in the namespace it was made in).
int OpenProbeSocket(const Address &dst, const std::string &protocol) {
  const bool v6 = dst.family == AF_INET6;
  int type = SOCK_RAW, proto = 0;
  if (protocol == "icmp")
    proto = v6 ? static_cast<int>(IPPROTO_ICMPV6) : static_cast<int>(IPPROTO_ICMP);
  else if (protocol == "tcp")
    proto = IPPROTO_TCP;
  else
    type = SOCK_DGRAM, proto = IPPROTO_UDP;
  int fd = socket(dst.family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
  if (fd < 0) throw FailureFromErrno(errno, "cannot open a probe socket", "PMTU_ERR_PERM");
  try {
    if (v6) {
      // DF whatever the cached path MTU (the device's MTU bounds the size), no source fragmentation.
      SetInt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_PROBE, "IPV6_MTU_DISCOVER");
      SetInt(fd, IPPROTO_IPV6, IPV6_DONTFRAG, 1, "IPV6_DONTFRAG");
      SetInt(fd, IPPROTO_IPV6, IPV6_RECVERR, 1, "IPV6_RECVERR");
      if (protocol == "tcp") SetInt(fd, IPPROTO_IPV6, IPV6_CHECKSUM, 16, "IPV6_CHECKSUM");
      if (protocol == "icmp") {
        icmp6_filter f;
        ICMP6_FILTER_SETBLOCKALL(&f);
        ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &f);
        if (setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &f, sizeof(f)) != 0)
          throw FailureFromErrno(errno, "setsockopt ICMP6_FILTER", "PMTU_ERR_INVALID");
      }
    } else {
      SetInt(fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE, "IP_MTU_DISCOVER");
      SetInt(fd, IPPROTO_IP, IP_RECVERR, 1, "IP_RECVERR");
      if (protocol == "icmp") {
        // Errors come on the error queue; of ordinary ICMP only echo replies.
        icmp_filter f{~(1u << ICMP_ECHOREPLY)};
        if (setsockopt(fd, SOL_RAW, ICMP_FILTER, &f, sizeof(f)) != 0)
          throw FailureFromErrno(errno, "setsockopt ICMP_FILTER", "PMTU_ERR_INVALID");
      }
    }
    if (connect(fd, reinterpret_cast<const sockaddr *>(&dst.ss), dst.len) != 0)
      throw FailureFromErrno(errno, "cannot connect the probe socket", "PMTU_ERR_INVALID");
  } catch (...) {
    close(fd);
    throw;
  }
  return fd;
}

struct Receipt {
  bool got = false;
  bool error = false;
  double ts_us = 0;
  std::string from;
  uint32_t origin = 0, type = 0, code = 0, err = 0, info = 0;
  std::string data;
};

double MonotonicUs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

// One message: the error queue first (poll says POLLERR), else an ordinary packet.
bool ReadOne(int fd, bool error_queue, Receipt &r) {
  char data[65536];
  char control[512];
  sockaddr_storage from{};
  iovec iov{data, sizeof(data)};
  msghdr msg{};
  msg.msg_name = &from;
  msg.msg_namelen = sizeof(from);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT | (error_queue ? MSG_ERRQUEUE : 0));
  if (n < 0) return false;
  r.got = true;
  r.error = error_queue;
  r.ts_us = MonotonicUs();
  r.data.assign(data, static_cast<size_t>(n));
  if (!error_queue) {
    r.from = AddressText(reinterpret_cast<const sockaddr *>(&from));
    return true;
  }
  for (cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (!((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
          (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR)))
      continue;
    auto *ee = reinterpret_cast<const sock_extended_err *>(CMSG_DATA(c));
    r.origin = ee->ee_origin;
    r.type = ee->ee_type;
    r.code = ee->ee_code;
    r.err = ee->ee_errno;
    r.info = ee->ee_info;
    r.from = AddressText(SO_EE_OFFENDER(ee));
  }
  return true;
}

// Waits on a duplicate of the socket's fd, so close() may run meanwhile.
class ReceiveWorker : public Napi::AsyncWorker {
 public:
  ReceiveWorker(Napi::Env env, int fd, int timeout_ms)
      : Napi::AsyncWorker(env, "pmtu-watch probe receive"),
        deferred_(Napi::Promise::Deferred::New(env)),
        fd_(fd),
        timeout_ms_(timeout_ms) {}
  ~ReceiveWorker() override { close(fd_); }

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override {
    const double deadline = MonotonicUs() + timeout_ms_ * 1000.0;
    for (;;) {
      if (ReadOne(fd_, true, r_) || ReadOne(fd_, false, r_)) return;
      int left = static_cast<int>((deadline - MonotonicUs()) / 1000.0);
      if (left <= 0) return;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, left) < 0 && errno != EINTR) {
        err_ = errno;
        return;
      }
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (err_) {
      deferred_.Reject(ToJsError(env, FailureFromErrno(err_, "waiting for an answer", "PMTU_ERR_INVALID")).Value());
      return;
    }
    if (!r_.got) {
      deferred_.Resolve(env.Null());
      return;
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("error", r_.error);
    o.Set("tsUs", r_.ts_us);
    o.Set("from", r_.from);
    o.Set("origin", r_.origin);
    o.Set("type", r_.type);
    o.Set("code", r_.code);
    o.Set("errno", r_.err);
    o.Set("info", r_.info);
    o.Set("data", Napi::Buffer<char>::Copy(env, r_.data.data(), r_.data.size()));
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error &e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  int fd_;
  int timeout_ms_;
  int err_ = 0;
  Receipt r_;
};

}  // namespace

Napi::Function ProbeSocket::Define(Napi::Env env) {
  return DefineClass(env, "ProbeSocket",
                     {InstanceMethod("local", &ProbeSocket::Local), InstanceMethod("send", &ProbeSocket::Send),
                      InstanceMethod("receive", &ProbeSocket::Receive), InstanceMethod("close", &ProbeSocket::Close)});
}

// new ProbeSocket(netns, dst, protocol, port): JavaScript has checked the arguments (src/probe/socket.ts).
ProbeSocket::ProbeSocket(const Napi::CallbackInfo &info) : Napi::ObjectWrap<ProbeSocket>(info) {
  Napi::Env env = info.Env();
  try {
    if (info.Length() < 3 || !info[1].IsString() || !info[2].IsString())
      Fail("PMTU_ERR_INVALID", "new ProbeSocket(netns: string | null, dst: string, protocol: string, port?: number)",
           "see native/index.d.ts");
    std::string netns = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
    std::string protocol = info[2].As<Napi::String>().Utf8Value();
    uint16_t port = info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().Uint32Value() : 0;
    Address dst = ParseAddress(info[1].As<Napi::String>().Utf8Value(), protocol == "udp" ? port : 0);
    family_ = dst.family;
    RunInNetns(netns, [&] { fd_ = OpenProbeSocket(dst, protocol); });
    sockaddr_storage local{};
    socklen_t len = sizeof(local);
    if (getsockname(fd_, reinterpret_cast<sockaddr *>(&local), &len) == 0)
      local_ = AddressText(reinterpret_cast<const sockaddr *>(&local));
  } catch (const Failure &f) {
    ToJsError(env, f).ThrowAsJavaScriptException();
  }
}

ProbeSocket::~ProbeSocket() {
  if (fd_ >= 0) close(fd_);
}

Napi::Value ProbeSocket::Local(const Napi::CallbackInfo &info) { return Napi::String::New(info.Env(), local_); }

// send(payload, ttl): 0, or the errno (EMSGSIZE: larger than the device's MTU).
Napi::Value ProbeSocket::Send(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (fd_ < 0 || info.Length() < 2 || !info[0].IsBuffer() || !info[1].IsNumber()) {
    ToJsError(env, {"PMTU_ERR_STATE", "send(payload: Buffer, ttl: number) on an open socket", "see native/index.d.ts"})
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Buffer<char> payload = info[0].As<Napi::Buffer<char>>();
  int ttl = info[1].As<Napi::Number>().Int32Value();
  int rc = family_ == AF_INET6 ? setsockopt(fd_, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl, sizeof(ttl))
                               : setsockopt(fd_, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl));
  if (rc == 0) rc = send(fd_, payload.Data(), payload.Length(), 0) < 0 ? -1 : 0;
  return Napi::Number::New(env, rc == 0 ? 0 : errno);
}

// receive(timeoutMs): a Promise of the next answer, or null when none came in time.
Napi::Value ProbeSocket::Receive(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  try {
    if (fd_ < 0 || info.Length() < 1 || !info[0].IsNumber())
      Fail("PMTU_ERR_STATE", "receive(timeoutMs: number) on an open socket", "see native/index.d.ts");
    int fd = fcntl(fd_, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) throw FailureFromErrno(errno, "duplicating the probe socket", "PMTU_ERR_INVALID");
    auto *worker = new ReceiveWorker(env, fd, info[0].As<Napi::Number>().Int32Value());  // deletes itself
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  } catch (const Failure &f) {
    ToJsError(env, f).ThrowAsJavaScriptException();
    return env.Undefined();
  }
}

Napi::Value ProbeSocket::Close(const Napi::CallbackInfo &info) {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  return info.Env().Undefined();
}

}  // namespace pmtu
