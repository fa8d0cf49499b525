#pragma once
#include <gtest/gtest.h>

#include <memory>

#include "dataplane/runtime/runtime.h"

namespace pollmsgr::test {

// Starts the EAL once for a whole test binary (EAL starts only once per process), on ordinary
// pages so that unit tests do not depend on the host's hugepages; lcores 0-1 when there are two.
class EalEnvironment : public ::testing::Environment {
 public:
  void SetUp() override;
  void TearDown() override { runtime_.reset(); }
  static Runtime& runtime() { return *instance_->runtime_; }

 private:
  static inline EalEnvironment* instance_ = nullptr;
  std::unique_ptr<Runtime> runtime_;
};

}  // namespace pollmsgr::test
