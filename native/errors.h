// Errors that cross into JavaScript: one class, stable codes, a hint.
#pragma once

#include <napi.h>

#include <string>

namespace pmtu {

// Thrown inside the addon and turned into a JS Error with code and hint.
struct Failure {
  std::string code;
  std::string message;
  std::string hint;
};

Failure FailureFromErrno(int err, const std::string &what, const std::string &fallback_code);

[[noreturn]] void Fail(const std::string &code, const std::string &message,
                       const std::string &hint);

Napi::Error ToJsError(Napi::Env env, const Failure &f);

// A warning libbpf printed: a program's refusal by the verifier is kept, so a
// failed load can say which program and why in one line.
void NoteLibbpfMessage(const std::string &message);

// A failed load: the verifier's refusal when libbpf reported one (then
// PMTU_ERR_BPF_LOAD, whatever errno says: root refused by the verifier is not
// a missing privilege), else as FailureFromErrno.
Failure LoadFailure(int err, const std::string &what);

// A constructor option that must be a positive count (1..INT32_MAX); absent: fallback.
uint32_t OptionalUint(const Napi::Object &options, const char *key, uint32_t fallback);

}  // namespace pmtu
