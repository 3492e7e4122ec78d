// Running a piece of work inside another network namespace.
#pragma once

#include <functional>
#include <string>

namespace pmtu {

// Runs fn on a short-lived thread that has entered the namespace at
// netns_path (empty: stays in ours). setns() changes only the calling
// thread, so Node's threads never leave their namespace. Exceptions thrown
// by fn (Failure) are rethrown here.
void RunInNetns(const std::string &netns_path, const std::function<void()> &fn);

}  // namespace pmtu
