// The Observer class exported to JavaScript: loads the BPF programs,
// attaches them, and moves ring buffer records to JS in batches.
#pragma once

#include <napi.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <mutex>
#include <thread>
#include <vector>

#include "tc.h"

struct pmtu_bpf;
struct ring_buffer;

namespace pmtu {

class Observer : public Napi::ObjectWrap<Observer> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Observer(const Napi::CallbackInfo &info);
  ~Observer() override;

  // Stops everything; safe to call twice, and from the env cleanup hook.
  void Shutdown();

 private:
  Napi::Value Start(const Napi::CallbackInfo &info);
  Napi::Value Attach(const Napi::CallbackInfo &info);
  Napi::Value Detach(const Napi::CallbackInfo &info);
  Napi::Value Attachments(const Napi::CallbackInfo &info);
  Napi::Value Losses(const Napi::CallbackInfo &info);
  Napi::Value Traffic(const Napi::CallbackInfo &info);
  Napi::Value Programs(const Napi::CallbackInfo &info);
  Napi::Value Warnings(const Napi::CallbackInfo &info);
  Napi::Value TestRun(const Napi::CallbackInfo &info);
  Napi::Value TestRunAsync(const Napi::CallbackInfo &info);
  Napi::Value Stop(const Napi::CallbackInfo &info);

  void Load();
  void DrainLoop();
  static int OnRecord(void *ctx, void *data, size_t size);
  void Flush();
  uint64_t SumLossCounter(uint32_t index) const;
  int TestRunFd(bool ingress) const;  // the tc program's fd; throws when not running

  // Settings (constructor).
  uint32_t ring_bytes_ = 8u << 20;
  uint32_t batch_records_ = 4096;
  uint32_t max_queued_batches_ = 64;
  uint32_t max_queued_records_ = 65536;
  std::shared_ptr<std::atomic<uint64_t>> queued_records_ = std::make_shared<std::atomic<uint64_t>>(0);
  uint32_t size_report_min_ = 1280;
  uint32_t flow_table_entries_ = 131072;
  bool every_flow_ = false;

  pmtu_bpf *skel_ = nullptr;
  ring_buffer *ring_ = nullptr;
  std::vector<TcAttachment> attachments_;
  std::vector<std::string> warnings_;

  // Drain thread state. batch_ is touched only by the drain thread.
  std::thread drain_;
  std::atomic<bool> stopping_{false};
  std::vector<uint8_t> batch_;
  uint32_t batch_count_ = 0;
  Napi::ThreadSafeFunction deliver_;
  std::atomic<uint64_t> queue_full_{0};
  std::atomic<uint64_t> delivered_{0};
  bool started_ = false;
  bool cleanup_hook_ = false;
};

}  // namespace pmtu
