#pragma once
// Running a helper program and capturing what it prints (fedgectl runs fedge-eval, the one
// command-line step that needs LibTorch, so that fedgectl itself never loads it).

#include <string>
#include <vector>

#include "shared/base/status.h"

namespace fedge::shared {

// What a finished program printed.
struct ProgramOutput {
  std::string out;  // its standard output
  std::string err;  // its standard error
};

// Runs argv[0] (a path, or a name looked up in PATH) with `argv`, no shell, and waits for it.
// Its standard input is /dev/null. Each output is kept up to `max_bytes` (the rest is read and
// dropped). Errors: InvalidArgument for an empty argv; NotFound if the program cannot be
// started (the message names it); Internal if it exits non-zero or dies from a signal, with its
// last line of standard error as the message.
Result<ProgramOutput> RunProgram(const std::vector<std::string>& argv, size_t max_bytes = 1 << 20);

// The directory of the running executable (from /proc/self/exe); empty if unknown.
std::string ExecutableDir();

}  // namespace fedge::shared
