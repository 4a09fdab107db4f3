#pragma once
// The accuracy behind `fedgectl release create`'s gate, measured by the program fedge-eval
// (coordinator/eval_main.cc), the one central-team step that needs LibTorch: fedgectl runs it
// instead of linking LibTorch, so none of its commands loads libtorch (~1 s a process here).

#include <cstdint>
#include <string>

#include "coordinator/release_create.h"

namespace fedge::coordinator {

// The fedge-eval to run: $FEDGE_EVAL if set, else fedge-eval beside the running executable if
// it is there, else "fedge-eval" (looked up in PATH).
std::string EvalProgram();

// An AccuracyFn that writes the weights to a temporary file, runs
// `<program> --arch A --weights FILE --data-dir data_dir --examples examples` and reads its
// {"accuracy": ...} line. Errors name the program and say what it printed on failure.
AccuracyFn EvalProgramAccuracy(const std::string& program, const std::string& data_dir,
                               int64_t examples);

}  // namespace fedge::coordinator
