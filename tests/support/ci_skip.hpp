// Skipping a test whose fixture this machine cannot provide (a tmpfs mount, chattr +i, another
// user): a skip on a developer's machine, a failure in CI. CI provides every such fixture (it runs
// as root on Linux), so a skip there would only hide a test that no longer runs.
//
//   if (!fixture) {
//     st_test::skip_or_fail_in_ci("cannot mount a tmpfs here (needs root)");
//     return;
//   }
#ifndef SAFETENSORS_TEST_SUPPORT_CI_SKIP_HPP
#define SAFETENSORS_TEST_SUPPORT_CI_SKIP_HPP

#include <doctest/doctest.h>

#include <cstdlib>
#include <string>
#include <string_view>

namespace st_test {

// True when the environment variable CI is "true" (what CI services and .ci/run set).
inline bool running_in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string_view(ci) == "true";
}

// Reports the test as skipped for `reason` (a doctest MESSAGE starting with "skipped: "), or, when
// running_in_ci(), fails it with that reason. The caller returns right after.
inline void skip_or_fail_in_ci(const std::string& reason) {
  if (running_in_ci()) {
    FAIL_CHECK("fixture missing under CI=true (a skip is a failure in CI): " << reason);
  } else {
    MESSAGE("skipped: " << reason);
  }
}

}  // namespace st_test

#endif  // SAFETENSORS_TEST_SUPPORT_CI_SKIP_HPP
