#pragma once
// Tests wait for events, never for a fixed time: until `done` holds, or fail after `seconds`
// (generous: a loaded machine is slow, not wrong) naming what was waited for.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace pollmsgr::test {

template <class Done>
bool eventually(Done done, const std::string& what, double seconds = 60) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << "timed out after " << seconds << " s waiting for " << what;
      return false;
    }
  }
  return true;
}

}  // namespace pollmsgr::test
