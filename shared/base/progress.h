#pragma once
// Progress of long work (simulation rounds, provisioning many kits, long transfers) for a
// person watching. On a terminal: one status line redrawn in place,
//   "rounds [##########..........] 10/20  0.42/s  ETA 24s  accuracy 0.8123"
// with other output printed above it (Println). Elsewhere (a pipe, a log file, CI): plain lines,
//   "rounds: 10/20 (50%), 0.42/s, ETA 24s, accuracy 0.8123"
// at most one per `plain_every` fraction of the work, and one at the end; no control characters.
//
// Thread-safety: all methods may be called from any thread (one internal mutex).

#include <cstdint>
#include <cstdio>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace fedge::shared {

// "12s", "3m05s", "1h02m"; "?" for a negative or non-finite value.
std::string FormatDuration(double seconds);
// "512 B", "12.5 kB", "3.4 MB", "1.20 GB" (powers of 1000).
std::string FormatBytes(double bytes);

class Progress {
 public:
  struct Options {
    std::string label;        // e.g. "rounds"
    uint64_t total = 0;       // units of work; 0: unknown (no bar, no ETA)
    std::FILE* out = stderr;  // not owned
    // Terminal mode; by default whether `out` is a terminal (isatty) and TERM is not "dumb".
    std::optional<bool> terminal;
    double redraw_seconds = 0.1;    // terminal: at most this often (Finish always draws)
    double plain_every = 0.1;       // plain: a line each time this fraction of total is done
    std::function<double()> clock;  // seconds, monotonic; default steady_clock
    int bar_width = 24;
    bool bytes = false;  // amounts and rate in kB/MB/GB ("12.5/40.0 MB  3.1 MB/s")
  };

  explicit Progress(Options options);
  // Finishes (a final line) if Finish was not called.
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // `done` units of `total` are done; `note` is shown after the figures.
  void Set(uint64_t done, std::string_view note = "");
  void Add(uint64_t n = 1, std::string_view note = "");
  // Sets the total once it is known (e.g. from a transfer's first chunk).
  void SetTotal(uint64_t total);
  // Prints `line` (no newline needed) above the status line on a terminal; as is elsewhere.
  void Println(std::string_view line);
  // Draws the last state and ends the status line. Idempotent.
  void Finish();

  // The status text for `done` units after `elapsed` seconds (exposed for tests): the bar (in
  // terminal mode, when total is known), done/total, the rate and the ETA.
  std::string Render(uint64_t done, double elapsed, bool terminal) const;

  bool terminal() const { return terminal_; }

 private:
  void Draw(bool force);  // REQUIRES: mu_ held

  Options options_;
  bool terminal_;
  std::mutex mu_;
  double start_ = 0;
  double last_draw_ = -1;
  uint64_t done_ = 0;
  uint64_t plain_step_ = 1;  // plain mode: units between lines
  uint64_t next_plain_ = 1;  // plain mode: print when done_ reaches it
  bool printed_ = false;     // plain mode: a line was printed, for done_ == printed_done_
  uint64_t printed_done_ = 0;
  std::string note_;
  bool drawn_ = false;  // terminal: a status line is on screen
  bool finished_ = false;
};

}  // namespace fedge::shared
