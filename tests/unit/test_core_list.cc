#include <gtest/gtest.h>

#include "dataplane/runtime/core_list.h"
#include "dataplane/runtime/startup_error.h"

namespace pollmsgr {
namespace {

TEST(CoreList, ParsesListsAndRanges) {
  EXPECT_EQ(parse_core_list("0-1"), (std::set<unsigned>{0, 1}));
  EXPECT_EQ(parse_core_list("3,0-1,7"), (std::set<unsigned>{0, 1, 3, 7}));
  EXPECT_EQ(parse_core_list("5"), (std::set<unsigned>{5}));
}

TEST(CoreList, ParsesMasks) {
  EXPECT_EQ(parse_core_mask("0x3"), (std::set<unsigned>{0, 1}));
  EXPECT_EQ(parse_core_mask("A"), (std::set<unsigned>{1, 3}));
  EXPECT_EQ(parse_core_mask("0x10"), (std::set<unsigned>{4}));
}

TEST(CoreList, RejectsBadInputWithAClearMessage) {
  for (const char* bad : {"", "a", "1-", "-1", "2-1", "0,", "0,,1", "99999", "1.5"}) {
    try {
      parse_core_list(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const StartupError& e) {
      EXPECT_EQ(e.exit_status(), 2);
      EXPECT_NE(std::string(e.what()).find("core list"), std::string::npos) << e.what();
    }
  }
  for (const char* bad : {"", "0x", "0x0", "0xG", "zz"}) {
    EXPECT_THROW(parse_core_mask(bad), StartupError) << bad;
  }
}

TEST(CoreList, FormatsCompactly) {
  EXPECT_EQ(format_core_list({0, 1, 2, 5, 7, 8}), "0-2,5,7-8");
  EXPECT_EQ(format_core_list({4}), "4");
}

}  // namespace
}  // namespace pollmsgr
