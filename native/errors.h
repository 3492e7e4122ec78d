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

}  // namespace pmtu
