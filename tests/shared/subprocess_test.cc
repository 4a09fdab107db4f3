#include "shared/base/subprocess.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace fedge::shared {
namespace {

TEST(RunProgramTest, CapturesBothOutputsOfAProgramThatSucceeds) {
  Result<ProgramOutput> r = RunProgram({"/bin/sh", "-c", "echo out; echo err >&2; cat"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->out, "out\n");  // and `cat` read /dev/null: no hang, nothing more
  EXPECT_EQ(r->err, "err\n");
}

TEST(RunProgramTest, AFailureSaysHowItEndedAndItsLastErrorLine) {
  Result<ProgramOutput> r =
      RunProgram({"/bin/sh", "-c", "echo first >&2; echo 'bad weights' >&2; exit 3"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInternal);
  EXPECT_EQ(r.status().message(), "/bin/sh exited with status 3: bad weights");
  Result<ProgramOutput> killed = RunProgram({"/bin/sh", "-c", "kill -9 $$"});
  ASSERT_FALSE(killed.ok());
  EXPECT_EQ(killed.status().message(), "/bin/sh was killed by signal 9");
}

TEST(RunProgramTest, AMissingProgramIsNotFoundAndNamed) {
  Result<ProgramOutput> r = RunProgram({"/nonexistent/fedge-eval", "--help"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/fedge-eval"), std::string::npos);
  EXPECT_FALSE(RunProgram({}).ok());
}

TEST(RunProgramTest, OutputBeyondTheLimitIsReadAndDropped) {
  Result<ProgramOutput> r = RunProgram({"/bin/sh", "-c", "head -c 100000 /dev/zero"}, 1000);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->out.size(), 1000u);
}

TEST(ExecutableDirTest, IsTheDirectoryOfThisTestBinary) {
  const std::string dir = ExecutableDir();
  ASSERT_FALSE(dir.empty());
  EXPECT_TRUE(std::filesystem::is_directory(dir));
}

}  // namespace
}  // namespace fedge::shared
