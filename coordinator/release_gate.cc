#include "coordinator/release_gate.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "shared/base/subprocess.h"
#include "shared/codec/bundle_codec.h"
#include "shared/crypto/crypto.h"

namespace fedge::coordinator {
namespace {

namespace fs = std::filesystem;
using shared::Result;
using shared::Status;

// A new file in the temporary directory holding `bytes`, removed when this goes away.
class TempFile {
 public:
  static Result<TempFile> Write(std::span<const uint8_t> bytes) {
    std::error_code ec;
    fs::path dir = fs::temp_directory_path(ec);
    if (ec) dir = "/tmp";
    std::string path = (dir / "fedge-eval-XXXXXX").string();
    const int fd = ::mkstemp(path.data());
    if (fd < 0) return Status::IOError("cannot create a temporary file in " + dir.string());
    ::close(fd);
    TempFile file(path);
    FEDGE_RETURN_IF_ERROR(shared::WriteFileAtomic(path, bytes, 0600));
    return file;
  }
  TempFile(TempFile&& other) noexcept : path_(std::exchange(other.path_, "")) {}
  TempFile& operator=(TempFile&&) = delete;
  ~TempFile() {
    std::error_code ec;
    if (!path_.empty()) fs::remove(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  explicit TempFile(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace

std::string EvalProgram() {
  if (const char* env = std::getenv("FEDGE_EVAL"); env != nullptr && *env != '\0') return env;
  const std::string dir = shared::ExecutableDir();
  std::error_code ec;
  if (!dir.empty() && fs::exists(fs::path(dir) / "fedge-eval", ec)) {
    return (fs::path(dir) / "fedge-eval").string();
  }
  return "fedge-eval";
}

AccuracyFn EvalProgramAccuracy(const std::string& program, const std::string& data_dir,
                               int64_t examples) {
  return [=](const std::string& arch, const shared::TensorBundle& state) -> Result<double> {
    FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, shared::EncodeBundle(state));
    FEDGE_ASSIGN_OR_RETURN(TempFile weights, TempFile::Write(bytes));
    Result<shared::ProgramOutput> run =
        shared::RunProgram({program, "--arch", arch, "--weights", weights.path(), "--data-dir",
                            data_dir, "--examples", std::to_string(examples)});
    if (!run.ok()) {
      return run.status().WithContext(
          "measuring accuracy for the release gate (fedge-eval is built beside fedgectl; set "
          "FEDGE_EVAL to its path, or pass --no-gate)");
    }
    const nlohmann::json line =
        nlohmann::json::parse(run->out, nullptr, /*allow_exceptions=*/false);
    if (!line.is_object() || !line.contains("accuracy") || !line["accuracy"].is_number()) {
      return Status::Internal(program + " printed no accuracy: '" + run->out.substr(0, 200) + "'");
    }
    return line["accuracy"].get<double>();
  };
}

}  // namespace fedge::coordinator
