#include "errors.h"

#include <cerrno>
#include <climits>
#include <cstring>

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
