// The EAL argument builder: what the runtime passes to DPDK, and the start-up errors users see.
#include <gtest/gtest.h>

#include <algorithm>

#include "dataplane/runtime/core_list.h"
#include "dataplane/runtime/runtime.h"
#include "dataplane/runtime/startup_error.h"

namespace pollmsgr {
namespace {

constexpr unsigned long long kGiB = 1ull << 30;

bool has(const std::vector<std::string>& args, const std::string& a) {
  return std::find(args.begin(), args.end(), a) != args.end();
}

std::string error_of(const RuntimeOptions& o, unsigned long long free_bytes) {
  try {
    build_eal_args(o, "x", free_bytes);
  } catch (const StartupError& e) {
    EXPECT_EQ(e.exit_status(), 2);
    return e.what();
  }
  return "";
}

TEST(EalArgs, HugepagesInMemoryNoPciAndMemoryUpFront) {
  RuntimeOptions o;
  o.lcores = "0";
  o.mem_mb = 64;
  auto args = build_eal_args(o, "x", kGiB);
  for (const char* a : {"--no-pci", "--in-memory", "--no-telemetry", "--iova-mode=va",
                        "--single-file-segments", "64"})
    EXPECT_TRUE(has(args, a)) << a;
  EXPECT_FALSE(has(args, "--no-huge"));
  EXPECT_TRUE(has(args, "--log-level=*:crit"));
}

TEST(EalArgs, NoHugeUsesNoShconfNotInMemory) {
  RuntimeOptions o;
  o.no_huge = true;
  o.verbose = true;
  auto args = build_eal_args(o, "x", kGiB);
  EXPECT_TRUE(has(args, "--no-huge"));
  EXPECT_TRUE(has(args, "--no-shconf"));
  EXPECT_FALSE(has(args, "--in-memory"));
  EXPECT_TRUE(has(args, "--log-level=*:info"));
}

TEST(EalArgs, NoHugeChecksTheMemoryThereIs) {
  RuntimeOptions o;
  o.no_huge = true;
  o.mem_mb = 1048576;
  const std::string msg = error_of(o, 8 * kGiB);
  EXPECT_NE(msg.find("--mem 1048576 MiB asked for with --no-huge, 8192 MiB available"),
            std::string::npos) << msg;
}

TEST(EalArgs, CoremaskBecomesACoreList) {
  RuntimeOptions o;
  o.coremask = "0x1";
  auto args = build_eal_args(o, "x", kGiB);
  auto it = std::find(args.begin(), args.end(), "-l");
  ASSERT_NE(it, args.end());
  EXPECT_EQ(*(it + 1), "0");
}

TEST(EalArgs, NoHugepagesNamesBothFixes) {
  RuntimeOptions o;
  std::string msg = error_of(o, 0);
  EXPECT_NE(msg.find("tools/setup-hugepages"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--no-huge"), std::string::npos) << msg;
}

TEST(EalArgs, TooLittleMemory) {
  RuntimeOptions o;
  o.mem_mb = 2048;
  std::string msg = error_of(o, kGiB);
  EXPECT_NE(msg.find("too little hugepage memory"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1024 MiB free"), std::string::npos) << msg;
}

TEST(EalArgs, LcoreThatDoesNotExist) {
  RuntimeOptions o;
  o.lcores = std::to_string(*allowed_cpus().rbegin() + 1);
  std::string msg = error_of(o, kGiB);
  EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
}

TEST(EalArgs, MainLcoreMustBeSelected) {
  RuntimeOptions o;
  o.lcores = "0";
  o.main_lcore = 1;
  std::string msg = error_of(o, kGiB);
  EXPECT_NE(msg.find("--main-lcore 1"), std::string::npos) << msg;
}

}  // namespace
}  // namespace pollmsgr
