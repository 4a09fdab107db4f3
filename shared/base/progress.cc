#include "shared/base/progress.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace fedge::shared {
namespace {

double SteadySeconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

bool IsTerminal(std::FILE* out) {
  const char* term = std::getenv("TERM");
  if (term == nullptr || std::strcmp(term, "dumb") == 0) return false;
  return out != nullptr && isatty(fileno(out)) == 1;
}

std::string Rate(double per_second) {
  char buf[32];
  if (per_second >= 100) {
    std::snprintf(buf, sizeof(buf), "%.0f/s", per_second);
  } else if (per_second >= 1) {
    std::snprintf(buf, sizeof(buf), "%.1f/s", per_second);
  } else {
    std::snprintf(buf, sizeof(buf), "%.2f/s", per_second);
  }
  return buf;
}

}  // namespace

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<uint64_t>(std::llround(seconds));
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof(buf), "%llus", static_cast<unsigned long long>(s));
  } else if (s < 3600) {
    std::snprintf(buf, sizeof(buf), "%llum%02llus", static_cast<unsigned long long>(s / 60),
                  static_cast<unsigned long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof(buf), "%lluh%02llum", static_cast<unsigned long long>(s / 3600),
                  static_cast<unsigned long long>(s / 60 % 60));
  }
  return buf;
}

std::string FormatBytes(double bytes) {
  char buf[32];
  if (!std::isfinite(bytes) || bytes < 0) return "?";
  if (bytes < 1e3) {
    std::snprintf(buf, sizeof(buf), "%.0f B", bytes);
  } else if (bytes < 1e6) {
    std::snprintf(buf, sizeof(buf), "%.1f kB", bytes / 1e3);
  } else if (bytes < 1e9) {
    std::snprintf(buf, sizeof(buf), "%.1f MB", bytes / 1e6);
  } else {
    std::snprintf(buf, sizeof(buf), "%.2f GB", bytes / 1e9);
  }
  return buf;
}

Progress::Progress(Options options) : options_(std::move(options)) {
  if (!options_.clock) options_.clock = SteadySeconds;
  terminal_ = options_.terminal.value_or(IsTerminal(options_.out));
  options_.plain_every = std::clamp(options_.plain_every, 0.0, 1.0);
  options_.bar_width = std::clamp(options_.bar_width, 4, 200);
  start_ = options_.clock();
  plain_step_ = std::max<uint64_t>(
      1,
      static_cast<uint64_t>(std::ceil(options_.plain_every * static_cast<double>(options_.total))));
  next_plain_ = plain_step_;
}

Progress::~Progress() { Finish(); }

std::string Progress::Render(uint64_t done, double elapsed, bool terminal) const {
  const uint64_t total = options_.total;
  std::string text = options_.label + (terminal ? " " : ": ");
  if (terminal && total > 0) {
    const auto filled = static_cast<int>(static_cast<double>(options_.bar_width) *
                                         std::min<double>(1.0, double(done) / total));
    text += "[" + std::string(filled, '#') + std::string(options_.bar_width - filled, '.') + "] ";
  }
  if (options_.bytes) {
    text += total > 0 ? FormatBytes(static_cast<double>(done)) + " of " +
                            FormatBytes(static_cast<double>(total))
                      : FormatBytes(static_cast<double>(done));
  } else {
    text += std::to_string(done);
    if (total > 0) text += "/" + std::to_string(total);
  }
  if (!terminal && total > 0) {
    text += " (" + std::to_string(std::min<uint64_t>(100, done * 100 / total)) + "%)";
  }
  const std::string sep = terminal ? "  " : ", ";
  if (elapsed > 0 && done > 0) {
    const double rate = static_cast<double>(done) / elapsed;
    text += sep + (options_.bytes ? FormatBytes(rate) + "/s" : Rate(rate));
    if (total > 0 && done < total) {
      text += sep + "ETA " + FormatDuration(static_cast<double>(total - done) / rate);
    } else if (total > 0) {
      text += sep + "took " + FormatDuration(elapsed);
    }
  }
  return text;
}

void Progress::Set(uint64_t done, std::string_view note) {
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return;
  done_ = done;
  note_ = note;
  Draw(false);
}

void Progress::Add(uint64_t n, std::string_view note) {
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return;
  done_ += n;
  note_ = note;
  Draw(false);
}

void Progress::SetTotal(uint64_t total) {
  std::lock_guard<std::mutex> lock(mu_);
  if (total == options_.total) return;
  options_.total = total;
  plain_step_ = std::max<uint64_t>(
      1, static_cast<uint64_t>(std::ceil(options_.plain_every * static_cast<double>(total))));
  next_plain_ = (done_ / plain_step_ + 1) * plain_step_;
}

void Progress::Println(std::string_view line) {
  std::lock_guard<std::mutex> lock(mu_);
  if (terminal_ && drawn_) std::fputs("\r\033[K", options_.out);
  std::fwrite(line.data(), 1, line.size(), options_.out);
  std::fputc('\n', options_.out);
  drawn_ = false;
  if (terminal_ && !finished_) Draw(true);
  std::fflush(options_.out);
}

void Progress::Finish() {
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return;
  Draw(true);
  if (terminal_ && drawn_) std::fputc('\n', options_.out);
  std::fflush(options_.out);
  finished_ = true;
}

void Progress::Draw(bool force) {
  const double now = options_.clock();
  if (terminal_) {
    if (!force && last_draw_ >= 0 && now - last_draw_ < options_.redraw_seconds) return;
    std::string text = Render(done_, now - start_, true);
    if (!note_.empty()) text += "  " + note_;
    std::fprintf(options_.out, "\r\033[K%s", text.c_str());
    drawn_ = true;
  } else {
    // Plain: a line when a `plain_every` step of the total is crossed, and at the end.
    if (!force && done_ < next_plain_) return;
    if (force && printed_ && done_ == printed_done_) return;  // nothing new to say
    std::string text = Render(done_, now - start_, false);
    if (!note_.empty()) text += ", " + note_;
    std::fprintf(options_.out, "%s\n", text.c_str());
    next_plain_ = (done_ / plain_step_ + 1) * plain_step_;
    printed_ = true;
    printed_done_ = done_;
  }
  last_draw_ = now;
  std::fflush(options_.out);
}

}  // namespace fedge::shared
