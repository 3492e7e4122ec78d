#include "netns.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <exception>
#include <thread>

#include "errors.h"

namespace pmtu {

void RunInNetns(const std::string &netns_path, const std::function<void()> &fn) {
  if (netns_path.empty()) {
    fn();
    return;
  }
  int fd = open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    Fail("PMTU_ERR_NETNS", "cannot open namespace " + netns_path + ": " + strerror(errno),
         "list namespaces with `ip netns list`");
  }
  std::exception_ptr error;
  std::thread worker([&] {
    try {
      if (setns(fd, CLONE_NEWNET) != 0) {
        Fail("PMTU_ERR_NETNS", "cannot enter namespace " + netns_path + ": " + strerror(errno),
             "entering a namespace needs CAP_SYS_ADMIN: run as root");
      }
      fn();
    } catch (...) {
      error = std::current_exception();
    }
  });
  worker.join();
  close(fd);
  if (error) std::rethrow_exception(error);
}

}  // namespace pmtu
