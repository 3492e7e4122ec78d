#include "errors.h"

#include <cerrno>
#include <climits>
#include <cstring>
#include <mutex>

namespace pmtu {

Failure FailureFromErrno(int err, const std::string &what, const std::string &fallback_code) {
  if (err < 0) err = -err;
  std::string message = what + ": " + std::strerror(err);
  if (err == EPERM || err == EACCES)
    return {"PMTU_ERR_PERM", message,
            "run as root: it needs CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN"};
  if (err == ENODEV || err == ENXIO)
    return {"PMTU_ERR_NO_DEVICE", message, "check the interface with `ip link`"};
  return {fallback_code, message, "run with PMTU_WATCH_DEBUG=1 to see libbpf's log"};
}

namespace {
struct Refusal {
  std::string program;
  std::string why;
};
std::mutex refusal_mutex;
Refusal last_refusal;

// The verifier's last word in its log: the line before "processed N insns".
std::string VerifierVerdict(const std::string &log) {
  std::string previous;
  size_t at = 0;
  while (at < log.size()) {
    size_t end = log.find('\n', at);
    if (end == std::string::npos) end = log.size();
    std::string line = log.substr(at, end - at);
    if (line.rfind("processed ", 0) == 0) return previous;
    if (!line.empty() && line[0] != ';' && line.find("-- END PROG LOAD LOG --") == std::string::npos) previous = line;
    at = end + 1;
  }
  return previous;
}
}  // namespace

void NoteLibbpfMessage(const std::string &message) {
  std::lock_guard<std::mutex> lock(refusal_mutex);
  size_t log = message.find("-- BEGIN PROG LOAD LOG --");
  if (log != std::string::npos) {
    last_refusal.why = VerifierVerdict(message.substr(log));
    return;
  }
  // "libbpf: prog 'NAME': BPF program load failed: ..." comes before its log.
  size_t prog = message.find("prog '");
  if (prog != std::string::npos && message.find("load failed") != std::string::npos) {
    size_t end = message.find('\'', prog + 6);
    if (end != std::string::npos) last_refusal = {message.substr(prog + 6, end - prog - 6), ""};
  }
}

Failure LoadFailure(int err, const std::string &what) {
  Refusal r;
  {
    std::lock_guard<std::mutex> lock(refusal_mutex);
    r = last_refusal;
    last_refusal = {};
  }
  if (r.why.empty()) return FailureFromErrno(err, what, "PMTU_ERR_BPF_LOAD");
  return {"PMTU_ERR_BPF_LOAD", what + ": the kernel's verifier refused " + (r.program.empty() ? "a program" : r.program) + ": " + r.why,
          "this kernel's verifier rejects what this build made; run with PMTU_WATCH_DEBUG=1 for its whole log and report it"};
}

void Fail(const std::string &code, const std::string &message, const std::string &hint) {
  throw Failure{code, message, hint};
}

Napi::Error ToJsError(Napi::Env env, const Failure &f) {
  Napi::Error e = Napi::Error::New(env, f.message);
  e.Set("code", Napi::String::New(env, f.code));
  e.Set("hint", Napi::String::New(env, f.hint));
  return e;
}

uint32_t OptionalUint(const Napi::Object &options, const char *key, uint32_t fallback) {
  Napi::Value v = options.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber() || v.As<Napi::Number>().DoubleValue() < 1 || v.As<Napi::Number>().DoubleValue() > INT32_MAX)
    Fail("PMTU_ERR_INVALID", std::string("option ") + key + " must be a positive number", "see native/index.d.ts");
  return v.As<Napi::Number>().Uint32Value();
}

}  // namespace pmtu
