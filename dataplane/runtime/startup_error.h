#pragma once
#include <stdexcept>
#include <string>

namespace pollmsgr {

// A start-up failure the user can fix: the message says what was tried, why it failed and how to
// fix it. Mains print it and exit with `exit_status` (2: bad flags or configuration). Thrown and
// caught on any thread.
class StartupError : public std::runtime_error {
 public:
  explicit StartupError(const std::string& message, int exit_status = 2)
      : std::runtime_error(message), exit_status_(exit_status) {}
  int exit_status() const { return exit_status_; }

 private:
  int exit_status_;
};

}  // namespace pollmsgr
