// The LinkMonitor class exported to JavaScript: one NETLINK_ROUTE socket per
// watched namespace, subscribed to RTMGRP_LINK, all read by one thread
// (epoll) that hands the RTM_NEWLINK / RTM_DELLINK notifications to JS in
// batches. It moves facts; what changed is worked out in TypeScript.
#pragma once

#include <napi.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "netconf.h"

namespace pmtu {

// addon.cc: the LinkInfo of native/index.d.ts, for dumps and notifications alike.
Napi::Object LinkObject(Napi::Env env, const NetLink &l);

struct LinkBatch;

class LinkMonitor : public Napi::ObjectWrap<LinkMonitor> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit LinkMonitor(const Napi::CallbackInfo &info);
  ~LinkMonitor() override;

  // Stops the thread and closes every socket; safe to call twice, and from
  // the env cleanup hook.
  void Shutdown();

 private:
  struct Socket {
    int fd = -1;
    // Notifications lost since the last batch (ENOBUFS, a truncated message,
    // notices beyond maxPendingNotices while JavaScript was behind): said in
    // the next batch so that JavaScript reads the namespace again. Loop
    // thread, under mutex_.
    uint64_t overruns = 0;
  };

  Napi::Value Start(const Napi::CallbackInfo &info);
  Napi::Value Add(const Napi::CallbackInfo &info);
  Napi::Value Remove(const Napi::CallbackInfo &info);
  Napi::Value Counters(const Napi::CallbackInfo &info);
  Napi::Value Stop(const Napi::CallbackInfo &info);

  void Loop();
  void ReadSocket(uint32_t id, Socket &s, LinkBatch &batch);
  // Hands the batch to JavaScript; when its queue is full the batch is kept
  // (returned) to grow and be tried again, never blocking the kernel side.
  std::unique_ptr<LinkBatch> Deliver(std::unique_ptr<LinkBatch> batch);
  void CloseAll();

  // Settings (constructor).
  int receive_buffer_bytes_ = 1 << 20;
  uint32_t max_queued_batches_ = 64;
  uint32_t max_pending_notices_ = 65536;

  int epoll_fd_ = -1;
  int wake_fd_ = -1;  // an eventfd: stop() wakes the thread out of epoll_wait
  std::mutex mutex_;  // sockets_: added and removed by JS, read by the thread
  std::map<uint32_t, Socket> sockets_;
  uint32_t next_id_ = 1;  // 0 is the wake fd's

  std::thread thread_;
  std::atomic<bool> stopping_{false};
  Napi::ThreadSafeFunction deliver_;
  std::atomic<uint64_t> notices_{0};
  std::atomic<uint64_t> overruns_{0};
  std::atomic<uint64_t> queue_full_{0};
  // Notices waiting for room in JavaScript's queue (loop thread only).
  std::unique_ptr<LinkBatch> pending_;
  bool started_ = false;
  bool cleanup_hook_ = false;
};

}  // namespace pmtu
