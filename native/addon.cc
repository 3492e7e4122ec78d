// Module entry: the Observer class and a few namespace/BTF lookups.
// The whole surface is described in native/index.d.ts.
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <napi.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "errors.h"
#include "events.h"
#include "netns.h"
#include "observer.h"
#include "route.h"

namespace pmtu {
namespace {

// libbpf talks only when asked to (PMTU_WATCH_DEBUG=1): errors reach the
// user as one line each through the error class instead.
int LibbpfPrint(enum libbpf_print_level level, const char *format, va_list args) {
  static const bool debug = getenv("PMTU_WATCH_DEBUG") != nullptr;
  (void)level;
  return debug ? vfprintf(stderr, format, args) : 0;
}

std::string NetnsArg(const Napi::CallbackInfo &info) {
  if (info.Length() < 1 || info[0].IsNull() || info[0].IsUndefined()) return "";
  if (!info[0].IsString()) Fail("PMTU_ERR_INVALID", "netns must be a path or null", "e.g. /run/netns/NAME");
  return info[0].As<Napi::String>().Utf8Value();
}

struct Link {
  int ifindex;
  std::string name;
  int mtu;
  bool up;
};

Napi::Value ListLinks(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  try {
    std::vector<Link> links;
    RunInNetns(NetnsArg(info), [&] {
      // Sockets belong to the namespace of the thread that made them.
      int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (sock < 0) Fail("PMTU_ERR_NETNS", std::string("socket: ") + strerror(errno), "run as root");
      struct if_nameindex *names = if_nameindex();
      for (struct if_nameindex *n = names; n && n->if_index; n++) {
        ifreq req{};
        strncpy(req.ifr_name, n->if_name, IFNAMSIZ - 1);
        Link link{static_cast<int>(n->if_index), n->if_name, 0, false};
        if (ioctl(sock, SIOCGIFMTU, &req) == 0) link.mtu = req.ifr_mtu;
        if (ioctl(sock, SIOCGIFFLAGS, &req) == 0) link.up = (req.ifr_flags & IFF_UP) != 0;
        links.push_back(link);
      }
      if (names) if_freenameindex(names);
      close(sock);
    });
    Napi::Array list = Napi::Array::New(env, links.size());
    for (size_t i = 0; i < links.size(); i++) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("ifindex", links[i].ifindex);
      o.Set("name", links[i].name);
      o.Set("mtu", links[i].mtu);
      o.Set("up", links[i].up);
      list.Set(i, o);
    }
    return list;
  } catch (const Failure &f) {
    ToJsError(env, f).ThrowAsJavaScriptException();
    return env.Undefined();
  }
}

Napi::Value NetnsInode(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  try {
    std::string path = NetnsArg(info);
    if (path.empty()) path = "/proc/self/ns/net";
    struct stat st {};
    if (stat(path.c_str(), &st) != 0)
      Fail("PMTU_ERR_NETNS", "cannot stat namespace " + path + ": " + strerror(errno),
           "list namespaces with `ip netns list`");
    return Napi::Number::New(env, static_cast<double>(st.st_ino));
  } catch (const Failure &f) {
    ToJsError(env, f).ThrowAsJavaScriptException();
    return env.Undefined();
  }
}

// enum skb_drop_reason of the running kernel, by value: the numbers change
// between kernel versions, the names do not.
Napi::Value DropReasonNames(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Array names = Napi::Array::New(env);
  btf *vmlinux = btf__load_vmlinux_btf();
  if (!vmlinux) return names;
  int id = btf__find_by_name_kind(vmlinux, "skb_drop_reason", BTF_KIND_ENUM);
  if (id > 0) {
    const btf_type *t = btf__type_by_id(vmlinux, id);
    const struct btf_enum *e = btf_enum(t);
    const std::string prefix = "SKB_DROP_REASON_";
    for (int i = 0; i < btf_vlen(t); i++, e++) {
      std::string name = btf__name_by_offset(vmlinux, e->name_off);
      if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
      if (e->val >= 0 && e->val < 0x10000) names.Set(static_cast<uint32_t>(e->val), name);
    }
  }
  btf__free(vmlinux);
  return names;
}

}  // namespace

Napi::Value RouteGet(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  try {
    if (info.Length() < 2 || !info[1].IsString())
      Fail("PMTU_ERR_INVALID", "routeGet(netns: string | null, dst: string)", "see native/index.d.ts");
    RouteInfo r = GetRoute(NetnsArg(info), info[1].As<Napi::String>().Utf8Value());
    Napi::Object o = Napi::Object::New(env);
    o.Set("found", r.found);
    o.Set("mtu", r.mtu);
    o.Set("expires", r.expires);
    o.Set("ifindex", r.ifindex);
    return o;
  } catch (const Failure &f) {
    ToJsError(env, f).ThrowAsJavaScriptException();
    return env.Undefined();
  }
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  libbpf_set_print(LibbpfPrint);
  exports.Set("Observer", Observer::Define(env));
  exports.Set("listLinks", Napi::Function::New(env, ListLinks, "listLinks"));
  exports.Set("netnsInode", Napi::Function::New(env, NetnsInode, "netnsInode"));
  exports.Set("routeGet", Napi::Function::New(env, RouteGet, "routeGet"));
  exports.Set("dropReasonNames", Napi::Function::New(env, DropReasonNames, "dropReasonNames"));
  exports.Set("RECORD_SIZE", Napi::Number::New(env, sizeof(pmtu_event)));
  return exports;
}

}  // namespace pmtu

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return pmtu::Init(env, exports); }

NODE_API_MODULE(pmtu_native, InitModule)
