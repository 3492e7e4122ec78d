// The ProbeSocket class exported to JavaScript: one socket in a namespace,
// connected to the one address it may send to, that sends the bytes it is
// given with DF and a TTL, and hands back what came back (an ordinary packet
// or an error from its error queue). What to send and what an answer means
// is JavaScript's (src/probe/).
#pragma once

#include <napi.h>

#include <string>

namespace pmtu {

class ProbeSocket : public Napi::ObjectWrap<ProbeSocket> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit ProbeSocket(const Napi::CallbackInfo &info);
  ~ProbeSocket() override;

 private:
  Napi::Value Local(const Napi::CallbackInfo &info);
  Napi::Value Send(const Napi::CallbackInfo &info);
  Napi::Value Receive(const Napi::CallbackInfo &info);
  Napi::Value Close(const Napi::CallbackInfo &info);

  int fd_ = -1;
  int family_ = 0;
  std::string local_;
};

}  // namespace pmtu
