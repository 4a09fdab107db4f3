#include "coordinator/admin_commands.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace fedge::coordinator {
namespace {

TEST(AdminCommandsTest, EveryIdHasExactlyOneEntry) {
  std::set<AdminCommandId> ids;
  std::set<std::string_view> names;
  for (const AdminCommandSpec& c : AdminCommands()) {
    EXPECT_TRUE(ids.insert(c.id).second) << c.name;
    EXPECT_TRUE(names.insert(c.name).second) << c.name;
    EXPECT_LE(c.min_args, c.max_args) << c.name;
    EXPECT_FALSE(c.help.empty()) << c.name;
  }
  const int last = static_cast<int>(AdminCommandId::kRollouts);
  EXPECT_EQ(ids.size(), static_cast<size_t>(last + 1));
  for (int i = 0; i <= last; ++i) {
    auto id = static_cast<AdminCommandId>(i);
    EXPECT_EQ(AdminCommandInfo(id).id, id) << i;
  }
}

TEST(AdminCommandsTest, FindsByWireName) {
  const AdminCommandSpec* show = FindAdminCommand("model show");
  ASSERT_NE(show, nullptr);
  EXPECT_EQ(show->id, AdminCommandId::kModelShow);
  EXPECT_EQ(AdminSubcommandName(*show), "show");
  EXPECT_EQ(AdminSubcommandName(AdminCommandInfo(AdminCommandId::kStatus)), "status");
  EXPECT_EQ(FindAdminCommand("model"), nullptr);
  EXPECT_EQ(FindAdminCommand("Status"), nullptr);
}

TEST(AdminCommandsTest, ArgumentCountsComeFromTheTable) {
  const AdminCommandSpec& prune = AdminCommandInfo(AdminCommandId::kModelPrune);
  EXPECT_FALSE(CheckAdminArgs(prune, 1).ok());
  EXPECT_TRUE(CheckAdminArgs(prune, 2).ok());
  EXPECT_TRUE(CheckAdminArgs(prune, 3).ok());
  shared::Status s = CheckAdminArgs(prune, 4);
  EXPECT_EQ(s.code(), shared::Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "usage: model prune VERSION FRACTION [hidden|no-hidden]");
  EXPECT_EQ(CheckAdminArgs(AdminCommandInfo(AdminCommandId::kStatus), 1).message(),
            "usage: status");
}

TEST(AdminCommandsTest, UnknownCommandListsTheKnownOnes) {
  shared::Status s = UnknownAdminCommand("reboot");
  EXPECT_EQ(s.code(), shared::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("unknown admin command 'reboot'"), std::string::npos);
  for (const AdminCommandSpec& c : AdminCommands()) {
    EXPECT_NE(s.message().find(std::string(c.name)), std::string::npos) << c.name;
  }
}

TEST(AdminCommandsTest, OnlyReleaseCommandsNeedReleases) {
  for (const AdminCommandSpec& c : AdminCommands()) {
    bool release = c.name.starts_with("release ") || c.name == "rollouts";
    EXPECT_EQ(c.needs_releases, release) << c.name;
  }
}

}  // namespace
}  // namespace fedge::coordinator
