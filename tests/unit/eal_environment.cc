#include "tests/unit/eal_environment.h"

#include "dataplane/runtime/core_list.h"

namespace pollmsgr::test {

void EalEnvironment::SetUp() {
  instance_ = this;
  RuntimeOptions options;
  options.no_huge = true;
  options.mem_mb = 128;
  options.lcores = allowed_cpus().size() >= 2 ? "0-1" : "0";
  runtime_ = std::make_unique<Runtime>(options, "pollmsgr_tests");
}

}  // namespace pollmsgr::test

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new pollmsgr::test::EalEnvironment);
  return RUN_ALL_TESTS();
}
