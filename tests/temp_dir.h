#pragma once
// A unique empty directory for one test, removed on destruction (kept, and named on stderr,
// when FEDGE_KEEP_TEST_DIRS is set, to look at what a failing test left).

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace fedge::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& tag = "test") {
    static std::atomic<int> counter{0};
    path_ = (std::filesystem::temp_directory_path() /
             ("fedge-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++)))
                .string();
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    if (std::getenv("FEDGE_KEEP_TEST_DIRS") != nullptr) {
      std::fprintf(stderr, "kept %s (FEDGE_KEEP_TEST_DIRS is set)\n", path_.c_str());
      return;
    }
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace fedge::testing
