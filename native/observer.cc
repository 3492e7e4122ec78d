#include "observer.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <utility>

#include "errors.h"
#include "events.h"
#include "pmtu.skel.h"

namespace pmtu {
namespace {

// Records on their way to JavaScript. `queued` counts the records handed
// over and not yet taken, across batches: the budget Flush() checks.
struct Batch {
  std::vector<uint8_t> bytes;
  uint32_t count;
  std::shared_ptr<std::atomic<uint64_t>> queued;
};

void DeliverBatch(Napi::Env env, Napi::Function on_batch, Batch *batch) {
  *batch->queued -= batch->count;
  if (env == nullptr) {  // the environment is going away
    delete batch;
    return;
  }
  auto buffer = Napi::Buffer<uint8_t>::NewOrCopy(
      env, batch->bytes.data(), batch->bytes.size(), [](Napi::Env, uint8_t *, Batch *b) { delete b; }, batch);
  on_batch.Call({buffer});
}

void CleanupHook(void *arg) {
  try {
    static_cast<Observer *>(arg)->Shutdown();
  } catch (const Failure &) {
    // The process is exiting: nothing is left to report the failure to.
  }
}

// tp_btf programs whose tracepoint this kernel lacks are not loaded; the
// rest of the observer still works (a warning, not an error).
std::vector<std::string> DisableMissingTracepoints(pmtu_bpf *skel) {
  std::vector<std::string> missing;
  btf *vmlinux = btf__load_vmlinux_btf();
  if (!vmlinux) return missing;
  bpf_program *prog;
  bpf_object__for_each_program(prog, skel->obj) {
    std::string section = bpf_program__section_name(prog);
    const std::string prefix = "tp_btf/";
    if (section.rfind(prefix, 0) != 0) continue;
    std::string tp = section.substr(prefix.size());
    if (btf__find_by_name_kind(vmlinux, ("btf_trace_" + tp).c_str(), BTF_KIND_TYPEDEF) < 0) {
      bpf_program__set_autoload(prog, false);
      missing.push_back(tp);
    }
  }
  btf__free(vmlinux);
  return missing;
}

}  // namespace

Napi::Function Observer::Define(Napi::Env env) {
  return DefineClass(env, "Observer",
                     {
                         InstanceMethod<&Observer::Start>("start"),
                         InstanceMethod<&Observer::Attach>("attach"),
                         InstanceMethod<&Observer::Detach>("detach"),
                         InstanceMethod<&Observer::Attachments>("attachments"),
                         InstanceMethod<&Observer::Losses>("losses"),
                         InstanceMethod<&Observer::Traffic>("traffic"),
                         InstanceMethod<&Observer::Programs>("programs"),
                         InstanceMethod<&Observer::Warnings>("warnings"),
                         InstanceMethod<&Observer::TestRun>("testRun"),
                         InstanceMethod<&Observer::TestRunAsync>("testRunAsync"),
                         InstanceMethod<&Observer::Stop>("stop"),
                     });
}

Observer::Observer(const Napi::CallbackInfo &info) : Napi::ObjectWrap<Observer>(info) {
  try {
    if (info.Length() > 0 && info[0].IsObject()) {
      Napi::Object o = info[0].As<Napi::Object>();
      ring_bytes_ = OptionalUint(o, "ringBufferBytes", ring_bytes_);
      batch_records_ = OptionalUint(o, "batchRecords", batch_records_);
      max_queued_batches_ = OptionalUint(o, "maxQueuedBatches", max_queued_batches_);
      max_queued_records_ = OptionalUint(o, "maxQueuedRecords", max_queued_records_);
      size_report_min_ = OptionalUint(o, "sizeReportMin", size_report_min_);
      flow_table_entries_ = OptionalUint(o, "flowTableEntries", flow_table_entries_);
      Napi::Value every = o.Get("everyFlow");
      if (!every.IsUndefined() && !every.IsBoolean())
        Fail("PMTU_ERR_INVALID", "option everyFlow must be a boolean", "see native/index.d.ts");
      every_flow_ = every.IsBoolean() && every.As<Napi::Boolean>().Value();
    }
    long page = sysconf(_SC_PAGESIZE);
    if ((ring_bytes_ & (ring_bytes_ - 1)) != 0 || ring_bytes_ < page)
      Fail("PMTU_ERR_INVALID", "ringBufferBytes must be a power of two of at least a page",
           "e.g. 8388608 (8 MiB)");
  } catch (const Failure &f) {
    ToJsError(info.Env(), f).ThrowAsJavaScriptException();
  }
}

Observer::~Observer() {
  // Only joins: JavaScript objects are not touched from a finalizer.
  stopping_ = true;
  if (drain_.joinable()) drain_.join();
}

void Observer::Load() {
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
    Fail("PMTU_ERR_NO_BTF", "this kernel exposes no BTF (/sys/kernel/btf/vmlinux)",
         "pmtu-watch needs a kernel built with CONFIG_DEBUG_INFO_BTF=y");
  skel_ = pmtu_bpf__open();
  if (!skel_) throw FailureFromErrno(errno, "opening the BPF programs", "PMTU_ERR_BPF_LOAD");
  skel_->rodata->pmtu_cfg.size_report_min = size_report_min_;
  skel_->rodata->pmtu_cfg.every_flow = every_flow_ ? 1 : 0;
  int err = bpf_map__set_max_entries(skel_->maps.events, ring_bytes_);
  if (err) throw FailureFromErrno(err, "sizing the ring buffer", "PMTU_ERR_BPF_LOAD");
  // Buckets of PMTU_FLOW_WAYS flows, a power of two, with room for twice the
  // flows asked for: a key's bucket is its hash's, so at the count asked for
  // few buckets are full yet (Poisson, mean 4 of 8: 2% of them).
  uint32_t buckets = 1;
  while (buckets < 0x40000000u && static_cast<uint64_t>(buckets) * PMTU_FLOW_WAYS < 2ull * flow_table_entries_) buckets <<= 1;
  err = bpf_map__set_max_entries(skel_->maps.flow_heads, buckets);
  if (!err) err = bpf_map__set_max_entries(skel_->maps.flows, buckets);
  if (err) throw FailureFromErrno(err, "sizing the flow table", "PMTU_ERR_BPF_LOAD");
  skel_->rodata->pmtu_cfg.flow_bucket_mask = buckets - 1;
  uint64_t seed = 0;
  if (getrandom(&seed, sizeof(seed), 0) != static_cast<ssize_t>(sizeof(seed)))
    throw FailureFromErrno(errno, "seeding the flow table", "PMTU_ERR_BPF_LOAD");
  skel_->rodata->pmtu_cfg.flow_seed = seed;
  StampOwner(&skel_->rodata->pmtu_cfg);
  for (const auto &tp : DisableMissingTracepoints(skel_))
    warnings_.push_back("this kernel has no " + tp + " tracepoint: its events are not reported");
  err = pmtu_bpf__load(skel_);
  if (err) throw LoadFailure(err, "loading the BPF programs");
  err = pmtu_bpf__attach(skel_);
  if (err) throw FailureFromErrno(err, "attaching the tracepoints", "PMTU_ERR_ATTACH");
  ring_ = ring_buffer__new(bpf_map__fd(skel_->maps.events), &Observer::OnRecord, this, nullptr);
  if (!ring_) throw FailureFromErrno(errno, "opening the ring buffer", "PMTU_ERR_BPF_LOAD");
}

Napi::Value Observer::Start(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  try {
    if (started_) Fail("PMTU_ERR_STATE", "observer already started", "create a new Observer");
    if (info.Length() < 1 || !info[0].IsFunction())
      Fail("PMTU_ERR_INVALID", "start() needs a batch callback", "start((records) => ...)");
    Load();
    deliver_ = Napi::ThreadSafeFunction::New(env, info[0].As<Napi::Function>(), "pmtu-watch ring buffer",
                                             max_queued_batches_, 1);
    started_ = true;
    Ref();  // a running observer is never collected; Shutdown() lets go
    napi_add_env_cleanup_hook(env, CleanupHook, this);
    cleanup_hook_ = true;
    drain_ = std::thread(&Observer::DrainLoop, this);
  } catch (const Failure &f) {
    Shutdown();
    ToJsError(env, f).ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

int Observer::OnRecord(void *ctx, void *data, size_t size) {
  auto *self = static_cast<Observer *>(ctx);
  if (size != sizeof(pmtu_event)) return 0;  // not ours to pass on: a contract mismatch
  auto *bytes = static_cast<const uint8_t *>(data);
  self->batch_.insert(self->batch_.end(), bytes, bytes + size);
  if (++self->batch_count_ >= self->batch_records_) self->Flush();
  return 0;
}

void Observer::Flush() {
  if (batch_count_ == 0) return;
  uint32_t count = batch_count_;
  batch_count_ = 0;
  // Over the budget, JavaScript is that far behind: newer records are
  // counted lost rather than queued, so the process stays responsive.
  if (*queued_records_ + count > max_queued_records_) {
    queue_full_ += count;
    batch_.clear();
    return;
  }
  // An exact-size copy: the staging buffer keeps its capacity, and a small
  // batch does not carry a batch-sized allocation to JavaScript.
  auto *batch = new Batch{std::vector<uint8_t>(batch_.begin(), batch_.end()), count, queued_records_};
  batch_.clear();
  *queued_records_ += count;
  napi_status status = deliver_.NonBlockingCall(batch, DeliverBatch);
  if (status == napi_ok) {
    delivered_ += count;
  } else {  // queue full or closing: counted, never blocks the kernel side
    *queued_records_ -= count;
    queue_full_ += count;
    delete batch;
  }
}

void Observer::DrainLoop() {
  while (!stopping_) {
    int n = ring_buffer__poll(ring_, 100 /* ms: bounds how long stop() waits */);
    if (n < 0 && n != -EINTR) break;
    Flush();
  }
  ring_buffer__consume(ring_);
  Flush();
}

Napi::Value Observer::Attach(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  try {
    if (!started_ || stopping_) Fail("PMTU_ERR_STATE", "attach() before start()", "call start() first");
    if (info.Length() < 2 || !(info[0].IsString() || info[0].IsNull()) || !info[1].IsNumber())
      Fail("PMTU_ERR_INVALID", "attach(netns: string | null, ifindex: number)", "see native/index.d.ts");
    std::string netns = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
    int ifindex = info[1].As<Napi::Number>().Int32Value();
    for (const auto &a : attachments_)
      if (a.netns == netns && a.ifindex == ifindex)
        Fail("PMTU_ERR_STATE", "already attached to " + a.ifname, "detach() it first");
    TcAttachment a = AttachTc(netns, ifindex, bpf_program__fd(skel_->progs.pmtu_tc_ingress),
                              bpf_program__fd(skel_->progs.pmtu_tc_egress));
    attachments_.push_back(a);
    Napi::Object o = Napi::Object::New(env);
    o.Set("netns", a.netns.empty() ? env.Null() : Napi::String::New(env, a.netns));
    o.Set("ifindex", a.ifindex);
    o.Set("ifname", a.ifname);
    return o;
  } catch (const Failure &f) {
    ToJsError(env, f).ThrowAsJavaScriptException();
    return env.Undefined();
  }
}

Napi::Value Observer::Detach(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  try {
    if (info.Length() < 2 || !(info[0].IsString() || info[0].IsNull()) || !info[1].IsNumber())
      Fail("PMTU_ERR_INVALID", "detach(netns: string | null, ifindex: number)", "see native/index.d.ts");
    std::string netns = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
    int ifindex = info[1].As<Napi::Number>().Int32Value();
    for (auto it = attachments_.begin(); it != attachments_.end(); ++it) {
      if (it->netns == netns && it->ifindex == ifindex) {
        TcAttachment a = *it;
        attachments_.erase(it);
        DetachTc(a);
        return env.Undefined();
      }
    }
    Fail("PMTU_ERR_STATE", "not attached to interface " + std::to_string(ifindex), "see attachments()");
  } catch (const Failure &f) {
    ToJsError(env, f).ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

Napi::Value Observer::Attachments(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Array list = Napi::Array::New(env, attachments_.size());
  for (size_t i = 0; i < attachments_.size(); i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("netns", attachments_[i].netns.empty() ? env.Null() : Napi::String::New(env, attachments_[i].netns));
    o.Set("ifindex", attachments_[i].ifindex);
    o.Set("ifname", attachments_[i].ifname);
    list.Set(i, o);
  }
  return list;
}

uint64_t Observer::SumLossCounter(uint32_t index) const {
  if (!skel_) return 0;
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return 0;
  std::vector<uint64_t> values(cpus);
  if (bpf_map__lookup_elem(skel_->maps.losses, &index, sizeof(index), values.data(),
                           values.size() * sizeof(uint64_t), 0) != 0)
    return 0;
  uint64_t sum = 0;
  for (uint64_t v : values) sum += v;
  return sum;
}

Napi::Value Observer::Losses(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("ringbufFull", static_cast<double>(SumLossCounter(PMTU_LOSS_RINGBUF_FULL)));
  o.Set("flowTableFull", static_cast<double>(SumLossCounter(PMTU_LOSS_FLOW_TABLE)));
  o.Set("queueFull", static_cast<double>(queue_full_.load()));
  o.Set("delivered", static_cast<double>(delivered_.load()));
  return o;
}

// Every hook's counters, summed over CPUs: the array's slots (each CPU's
// own: a hook may hold a slot on one CPU and count in the LRU map on
// another), then the LRU map, walked with get_next_key (a few hundred hooks
// at most, once per stats period).
Napi::Value Observer::Traffic(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Array list = Napi::Array::New(env);
  if (!skel_) return list;
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return list;
  std::map<std::pair<uint32_t, uint32_t>, pmtu_traffic> sums;
  auto add = [&sums](const pmtu_traffic_key &k, const pmtu_traffic &v) {
    pmtu_traffic &sum = sums[{k.netns, k.ifindex}];
    sum.syns += v.syns;
    sum.synacks += v.synacks;
    sum.flows += v.flows;
    sum.ptbs += v.ptbs;
  };
  std::vector<pmtu_traffic_slot> slots(cpus);
  for (uint32_t i = 0; i < PMTU_TRAFFIC_SLOTS; i++) {
    if (bpf_map__lookup_elem(skel_->maps.traffic_slots, &i, sizeof(i), slots.data(),
                             slots.size() * sizeof(pmtu_traffic_slot), 0) != 0)
      continue;
    for (const auto &slot : slots)
      if (slot.key.netns || slot.key.ifindex) add(slot.key, slot.counts);
  }
  std::vector<pmtu_traffic> values(cpus);
  pmtu_traffic_key key{}, next{};
  const pmtu_traffic_key *prev = nullptr;
  while (bpf_map__get_next_key(skel_->maps.traffic, prev, &next, sizeof(next)) == 0) {
    key = next;
    prev = &key;
    if (bpf_map__lookup_elem(skel_->maps.traffic, &key, sizeof(key), values.data(),
                             values.size() * sizeof(pmtu_traffic), 0) != 0)
      continue;  // evicted meanwhile
    for (const auto &v : values) add(key, v);
  }
  uint32_t n = 0;
  for (const auto &[hook, sum] : sums) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("netnsInode", hook.first);
    o.Set("ifindex", hook.second);
    o.Set("syns", static_cast<double>(sum.syns));
    o.Set("synAcks", static_cast<double>(sum.synacks));
    o.Set("flows", static_cast<double>(sum.flows));
    o.Set("ptbs", static_cast<double>(sum.ptbs));
    list.Set(n++, o);
  }
  return list;
}

// The loaded programs and what verifying each cost: a program near the
// verifier's limit (1M instructions processed) is one kernel away from refusal.
Napi::Value Observer::Programs(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Array list = Napi::Array::New(env);
  if (!skel_) return list;
  uint32_t n = 0;
  bpf_program *prog;
  bpf_object__for_each_program(prog, skel_->obj) {
    int fd = bpf_program__fd(prog);
    if (fd < 0) continue;  // not loaded (a tracepoint this kernel lacks)
    bpf_prog_info pi{};
    uint32_t len = sizeof(pi);
    if (bpf_obj_get_info_by_fd(fd, &pi, &len) != 0) continue;
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", bpf_program__name(prog));
    o.Set("id", pi.id);
    o.Set("verifiedInsns", pi.verified_insns);
    list.Set(n++, o);
  }
  return list;
}

Napi::Value Observer::Warnings(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Array list = Napi::Array::New(env, warnings_.size());
  for (size_t i = 0; i < warnings_.size(); i++) list.Set(i, warnings_[i]);
  return list;
}

// BPF_PROG_TEST_RUN of a tc program on a crafted frame: what tests and
// benchmarks use to feed the parser exact bytes. Its events arrive through
// the ring buffer like any other.
namespace {

struct TestRunArgs {
  std::vector<uint8_t> frame;
  uint32_t repeat;
  bool ingress;
};

struct TestRunOutcome {
  int32_t retval = 0;
  uint32_t duration_ns = 0;
  std::vector<uint8_t> output;
};

TestRunArgs ParseTestRunArgs(const Napi::CallbackInfo &info) {
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsBuffer())
    Fail("PMTU_ERR_INVALID", "testRun(direction: 'ingress' | 'egress', frame: Buffer, repeat?: number)",
         "see native/index.d.ts");
  std::string dir = info[0].As<Napi::String>().Utf8Value();
  if (dir != "ingress" && dir != "egress")
    Fail("PMTU_ERR_INVALID", "direction must be 'ingress' or 'egress'", "see native/index.d.ts");
  auto frame = info[1].As<Napi::Buffer<uint8_t>>();
  uint32_t repeat = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Uint32Value() : 1;
  return {std::vector<uint8_t>(frame.Data(), frame.Data() + frame.Length()), repeat ? repeat : 1u, dir == "ingress"};
}

// Touches no JavaScript: it also runs on a worker thread.
TestRunOutcome RunTest(int prog_fd, const TestRunArgs &args) {
  TestRunOutcome r;
  r.output.resize(args.frame.size() + 256);
  bpf_test_run_opts opts{};
  opts.sz = sizeof(opts);
  opts.data_in = args.frame.data();
  opts.data_size_in = static_cast<uint32_t>(args.frame.size());
  opts.data_out = r.output.data();
  opts.data_size_out = static_cast<uint32_t>(r.output.size());
  opts.repeat = args.repeat;
  int err = bpf_prog_test_run_opts(prog_fd, &opts);
  if (err) throw FailureFromErrno(err, "BPF_PROG_TEST_RUN", "PMTU_ERR_INVALID");
  r.retval = static_cast<int32_t>(opts.retval);
  r.duration_ns = opts.duration;
  r.output.resize(opts.data_size_out);
  return r;
}

Napi::Object TestRunResult(Napi::Env env, const TestRunOutcome &r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("retval", r.retval);
  o.Set("durationNs", r.duration_ns);
  o.Set("output", Napi::Buffer<uint8_t>::Copy(env, r.output.data(), r.output.size()));
  return o;
}

// A test run on a libuv worker thread, on its own duplicate of the program's
// fd (so stop() may release the programs meanwhile): the event loop keeps
// taking batches while the kernel runs, which makes it a load generator.
class TestRunWorker : public Napi::AsyncWorker {
 public:
  TestRunWorker(Napi::Env env, int prog_fd, TestRunArgs args)
      : Napi::AsyncWorker(env, "pmtu-watch test run"),
        deferred_(Napi::Promise::Deferred::New(env)),
        prog_fd_(prog_fd),
        args_(std::move(args)) {}
  ~TestRunWorker() override { close(prog_fd_); }

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override {
    try {
      outcome_ = RunTest(prog_fd_, args_);
    } catch (const Failure &f) {
      failure_ = f;
      failed_ = true;
    }
  }
  void OnOK() override {
    if (failed_)
      deferred_.Reject(ToJsError(Env(), failure_).Value());
    else
      deferred_.Resolve(TestRunResult(Env(), outcome_));
  }
  void OnError(const Napi::Error &e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  int prog_fd_;
  TestRunArgs args_;
  TestRunOutcome outcome_;
  Failure failure_;
  bool failed_ = false;
};

}  // namespace

int Observer::TestRunFd(bool ingress) const {
  if (!started_ || stopping_) Fail("PMTU_ERR_STATE", "testRun() before start()", "call start() first");
  bpf_program *prog = ingress ? skel_->progs.pmtu_tc_ingress : skel_->progs.pmtu_tc_egress;
  return bpf_program__fd(prog);
}

Napi::Value Observer::TestRun(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  try {
    TestRunArgs args = ParseTestRunArgs(info);
    return TestRunResult(env, RunTest(TestRunFd(args.ingress), args));
  } catch (const Failure &f) {
    ToJsError(env, f).ThrowAsJavaScriptException();
    return env.Undefined();
  }
}

Napi::Value Observer::TestRunAsync(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  try {
    TestRunArgs args = ParseTestRunArgs(info);
    int fd = fcntl(TestRunFd(args.ingress), F_DUPFD_CLOEXEC, 0);
    if (fd < 0) throw FailureFromErrno(errno, "duplicating the program's fd", "PMTU_ERR_INVALID");
    auto *worker = new TestRunWorker(env, fd, std::move(args));  // deletes itself when done
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  } catch (const Failure &f) {
    ToJsError(env, f).ThrowAsJavaScriptException();
    return env.Undefined();
  }
}

Napi::Value Observer::Stop(const Napi::CallbackInfo &info) {
  try {
    Shutdown();
  } catch (const Failure &f) {
    ToJsError(info.Env(), f).ThrowAsJavaScriptException();
  }
  return info.Env().Undefined();
}

void Observer::Shutdown() {
  stopping_ = true;
  if (drain_.joinable()) drain_.join();
  if (started_) {
    deliver_.Release();
    started_ = false;
    Unref();
  }
  if (cleanup_hook_) {
    napi_remove_env_cleanup_hook(Env(), CleanupHook, this);
    cleanup_hook_ = false;
  }
  // Every hook is removed even when one fails; the first failure is reported.
  std::vector<Failure> failures;
  for (const auto &a : attachments_) {
    try {
      DetachTc(a);
    } catch (const Failure &f) {
      failures.push_back(f);
    }
  }
  attachments_.clear();
  if (ring_) {
    ring_buffer__free(ring_);
    ring_ = nullptr;
  }
  if (skel_) {
    pmtu_bpf__destroy(skel_);  // detaches the tracepoints
    skel_ = nullptr;
  }
  if (!failures.empty()) throw failures.front();
}

}  // namespace pmtu
