// Module entry: the Observer, LinkMonitor and ProbeSocket classes and a few namespace/BTF lookups.
// The whole surface is described in native/index.d.ts.
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <napi.h>
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
#include "netconf.h"
#include "link_monitor.h"
#include "netns.h"
#include "observer.h"
#include "probe.h"
#include "route.h"
#include "tc.h"

namespace pmtu {

// The LinkInfo of native/index.d.ts, for dumps and the link monitor alike.
Napi::Object LinkObject(Napi::Env env, const NetLink &l) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("ifindex", l.ifindex);
  o.Set("name", l.name);
  o.Set("mtu", l.mtu);
  o.Set("up", l.up);
  o.Set("kind", l.kind);
  o.Set("master", l.master);
  o.Set("link", l.link);
  o.Set("linkNetnsid", l.link_netnsid);
  if (l.is_tunnel) {
    Napi::Object t = Napi::Object::New(env);
    t.Set("lower", l.tunnel_lower);
    t.Set("remote", l.tunnel_remote);
    t.Set("local", l.tunnel_local);
    t.Set("greOutputFlags", l.gre_oflags);
    t.Set("encapLimit", l.encap_limit);
    t.Set("flags", l.tunnel_flags);
    o.Set("tunnel", t);
  }
  return o;
}

namespace {

// libbpf talks only when asked to (PMTU_WATCH_DEBUG=1): errors reach the
// user as one line each through the error class instead, a verifier's
// refusal with the line that says why (NoteLibbpfMessage).
int LibbpfPrint(enum libbpf_print_level level, const char *format, va_list args) {
  static const bool debug = getenv("PMTU_WATCH_DEBUG") != nullptr;
  va_list copy;
  va_copy(copy, args);
  int n = 0;
  if (level == LIBBPF_WARN) {
    char small[512];
    int len = vsnprintf(small, sizeof(small), format, args);
    if (len >= static_cast<int>(sizeof(small))) {  // a verifier log: one message, often kilobytes
      std::string big(static_cast<size_t>(len) + 1, '\0');
      va_list again;
      va_copy(again, copy);
      vsnprintf(big.data(), big.size(), format, again);
      va_end(again);
      big.resize(static_cast<size_t>(len));
      NoteLibbpfMessage(big);
    } else if (len > 0) {
      NoteLibbpfMessage(small);
    }
  }
  if (debug) n = vfprintf(stderr, format, copy);
  va_end(copy);
  return n;
}

std::string NetnsArg(const Napi::CallbackInfo &info) {
  if (info.Length() < 1 || info[0].IsNull() || info[0].IsUndefined()) return "";
  if (!info[0].IsString()) Fail("PMTU_ERR_INVALID", "netns must be a path or null", "e.g. /run/netns/NAME");
  return info[0].As<Napi::String>().Utf8Value();
}

Napi::Value ListLinks(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  try {
    std::vector<NetLink> links = ReadLinks(NetnsArg(info));
    Napi::Array list = Napi::Array::New(env, links.size());
    for (size_t i = 0; i < links.size(); i++) list.Set(i, LinkObject(env, links[i]));
    return list;
  } catch (const Failure &f) {
    ToJsError(env, f).ThrowAsJavaScriptException();
    return env.Undefined();
  }
}

std::vector<std::string> StringArrayArg(const Napi::CallbackInfo &info, size_t index, const char *usage) {
  std::vector<std::string> out;
  if (info.Length() <= index || info[index].IsUndefined()) return out;
  if (!info[index].IsArray()) Fail("PMTU_ERR_INVALID", usage, "see native/index.d.ts");
  Napi::Array a = info[index].As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value v = a.Get(i);
    if (!v.IsString()) Fail("PMTU_ERR_INVALID", usage, "see native/index.d.ts");
    out.push_back(v.As<Napi::String>().Utf8Value());
  }
  return out;
}

Napi::Value ReadNetConfigJs(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  try {
    std::vector<std::string> peers =
        StringArrayArg(info, 1, "readNetConfig(netns: string | null, peers?: string[])");
    NetConfig c = ReadNetConfig(NetnsArg(info), peers);
    Napi::Object o = Napi::Object::New(env);
    Napi::Array links = Napi::Array::New(env, c.links.size());
    for (size_t i = 0; i < c.links.size(); i++) links.Set(i, LinkObject(env, c.links[i]));
    o.Set("links", links);
    Napi::Array addresses = Napi::Array::New(env, c.addresses.size());
    for (size_t i = 0; i < c.addresses.size(); i++) {
      Napi::Object a = Napi::Object::New(env);
      a.Set("ifindex", c.addresses[i].ifindex);
      a.Set("family", c.addresses[i].family);
      a.Set("address", c.addresses[i].address);
      a.Set("prefixLen", c.addresses[i].prefix_len);
      addresses.Set(i, a);
    }
    o.Set("addresses", addresses);
    auto routeArray = [&](const std::vector<NetRoute> &list) {
      Napi::Array out = Napi::Array::New(env, list.size());
      for (size_t i = 0; i < list.size(); i++) {
        const NetRoute &r = list[i];
        Napi::Object a = Napi::Object::New(env);
        a.Set("family", r.family);
        a.Set("table", r.table);
        a.Set("type", r.type);
        a.Set("dst", r.dst);
        a.Set("dstLen", r.dst_len);
        a.Set("gateway", r.gateway);
        a.Set("oif", r.oif);
        a.Set("priority", r.priority);
        a.Set("mtu", r.mtu);
        a.Set("advmss", r.advmss);
        a.Set("prefsrc", r.prefsrc);
        a.Set("expires", r.expires);
        out.Set(i, a);
      }
      return out;
    };
    o.Set("routes", routeArray(c.routes));
    o.Set("cached", routeArray(c.cached));
    Napi::Array nsids = Napi::Array::New(env, c.peer_nsids.size());
    for (size_t i = 0; i < c.peer_nsids.size(); i++) nsids.Set(i, c.peer_nsids[i]);
    o.Set("peerNsids", nsids);
    return o;
  } catch (const Failure &f) {
    ToJsError(env, f).ThrowAsJavaScriptException();
    return env.Undefined();
  }
}

Napi::Value ReadSysctlsJs(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  try {
    std::vector<std::string> paths = StringArrayArg(info, 1, "readSysctls(netns: string | null, paths: string[])");
    std::vector<std::string> values;
    std::vector<bool> found;
    ReadSysctls(NetnsArg(info), paths, values, found);
    Napi::Array out = Napi::Array::New(env, values.size());
    for (size_t i = 0; i < values.size(); i++) out.Set(i, found[i] ? Napi::Value(Napi::String::New(env, values[i])) : env.Null());
    return out;
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

// Removes the tc filters a killed pmtu-watch left in a namespace (tc.h).
Napi::Value RemoveLeftovers(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  try {
    std::vector<TcLeftover> removed = RemoveLeftoverTc(NetnsArg(info));
    Napi::Array list = Napi::Array::New(env, removed.size());
    for (size_t i = 0; i < removed.size(); i++) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("ifname", removed[i].ifname);
      o.Set("ifindex", removed[i].ifindex);
      o.Set("direction", removed[i].direction);
      o.Set("priority", removed[i].priority);
      o.Set("progId", removed[i].prog_id);
      o.Set("ownerPid", removed[i].owner_pid);
      list.Set(i, o);
    }
    return list;
  } catch (const Failure &f) {
    ToJsError(env, f).ThrowAsJavaScriptException();
    return env.Undefined();
  }
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
  exports.Set("LinkMonitor", LinkMonitor::Define(env));
  exports.Set("ProbeSocket", ProbeSocket::Define(env));
  exports.Set("listLinks", Napi::Function::New(env, ListLinks, "listLinks"));
  exports.Set("netnsInode", Napi::Function::New(env, NetnsInode, "netnsInode"));
  exports.Set("readNetConfig", Napi::Function::New(env, ReadNetConfigJs, "readNetConfig"));
  exports.Set("readSysctls", Napi::Function::New(env, ReadSysctlsJs, "readSysctls"));
  exports.Set("routeGet", Napi::Function::New(env, RouteGet, "routeGet"));
  exports.Set("dropReasonNames", Napi::Function::New(env, DropReasonNames, "dropReasonNames"));
  exports.Set("removeLeftovers", Napi::Function::New(env, RemoveLeftovers, "removeLeftovers"));
  exports.Set("RECORD_SIZE", Napi::Number::New(env, sizeof(pmtu_event)));
  return exports;
}

}  // namespace pmtu

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return pmtu::Init(env, exports); }

NODE_API_MODULE(pmtu_native, InitModule)
