#pragma once
// Wall-clock seconds for the simulation's reports (steady clock: durations, never dates).

#include <chrono>

namespace fedge::sim {

using Clock = std::chrono::steady_clock;

// Seconds from `since` to now.
inline double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

}  // namespace fedge::sim
