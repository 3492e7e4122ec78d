# The one build system: node-gyp ships with npm, so `npm install` builds the
# BPF objects and the addon with nothing else to install from npm (cmake-js
# would add a CMake dependency and a second configuration language).
{
  "targets": [
    {
      "target_name": "pmtu_bpf",
      "type": "none",
      "actions": [
        {
          "action_name": "build_bpf",
          "inputs": ["<!@(ls bpf/*.bpf.c bpf/*.h)", "scripts/build-bpf.sh"],
          "outputs": ["<(SHARED_INTERMEDIATE_DIR)/bpf/pmtu.skel.h", "<(SHARED_INTERMEDIATE_DIR)/bpf/pmtu.bpf.o"],
          "action": ["bash", "scripts/build-bpf.sh", "<(SHARED_INTERMEDIATE_DIR)/bpf"],
          "message": "Building BPF programs and skeleton"
        }
      ]
    },
    {
      "target_name": "pmtu_native",
      "dependencies": [
        "pmtu_bpf",
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
      ],
      "sources": [
        "native/addon.cc",
        "native/errors.cc",
        "native/link_monitor.cc",
        "native/netconf.cc",
        "native/netns.cc",
        "native/observer.cc",
        "native/probe.cc",
        "native/route.cc",
        "native/rtnl.cc",
        "native/tc.cc"
      ],
      "include_dirs": ["<(SHARED_INTERMEDIATE_DIR)/bpf", "bpf"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-Wall", "-Wextra", "-Werror", "-fvisibility=hidden"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Werror", "-fvisibility=hidden"],
      "libraries": ["-lbpf", "-lelf", "-lz"]
    },
    {
      "target_name": "pmtu-bench",
      "type": "executable",
      "dependencies": ["pmtu_bpf"],
      "sources": ["bench/pmtu-bench.c"],
      "include_dirs": ["<(SHARED_INTERMEDIATE_DIR)/bpf", "bpf"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Werror"],
      "libraries": ["-lbpf", "-lelf", "-lz", "-lpthread"]
    }
  ]
}
