// examples/misd/progress.hpp -- how the misd tool shows progress on stderr: a line redrawn in
// place (at most 5 times a second) when stderr is a terminal, nothing while running when it
// is not (a pipe or a log file gets the final summary only), nothing at all with --quiet.
// Scoring reports counts of inputs done; training reports through the library's callback
// (misd::train::progress_callback), so a program of its own can draw progress its own way.
#pragma once

#include "misd/train/trainer.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

namespace misd_cli {

/// Whether progress is drawn: stderr is a terminal and the user did not ask for quiet.
inline bool progress_wanted(bool quiet) {
  return !quiet && ::isatty(STDERR_FILENO) != 0;
}

/// "m:ss" (or "h:mm:ss") for a number of seconds.
inline std::string clock_time(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0)
    return "?";
  const long t = std::lround(seconds);
  char b[32];
  if (t >= 3600)
    std::snprintf(b, sizeof b, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else
    std::snprintf(b, sizeof b, "%ld:%02ld", t / 60, t % 60);
  return b;
}

/// "[######..................]": a 24-character bar filled to `frac` (0 to 1).
inline std::string bar(double frac) {
  constexpr int width = 24;
  std::string b(static_cast<std::size_t>(width * std::clamp(frac, 0.0, 1.0)), '#');
  b.resize(width, '.');
  return "[" + b + "]";
}

/// One progress line for `total` units (inputs) of a phase.
class progress_line {
public:
  progress_line(std::string label, double total, bool draw)
      : label_(std::move(label)), total_(total), draw_(draw),
        start_(std::chrono::steady_clock::now()) {}
  progress_line(const progress_line&) = delete;
  progress_line& operator=(const progress_line&) = delete;
  ~progress_line() { finish(); }

  /// `done` units of `total` so far; the line is redrawn at most every 200 ms, and always
  /// when done reaches total.
  void update(double done) {
    if (!draw_)
      return;
    const auto now = std::chrono::steady_clock::now();
    if (done < total_ && drawn_ && now - last_ < std::chrono::milliseconds(200))
      return;
    last_ = now;
    drawn_ = true;
    const double s = seconds();
    const double rate = s > 0 ? done / s : 0;
    const double frac = total_ > 0 ? std::min(1.0, done / total_) : 1.0;
    std::fprintf(stderr, "\r%s %s %3.0f%%  %.0f/%.0f  %.0f inputs/s  %s left   ", label_.c_str(),
                 bar(frac).c_str(), 100 * frac, done, total_, rate,
                 clock_time(rate > 0 ? (total_ - done) / rate : NAN).c_str());
    std::fflush(stderr);
  }
  /// Ends the drawn line (a newline), once.
  void finish() {
    if (drawn_)
      std::fputc('\n', stderr);
    drawn_ = false;
  }
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

private:
  std::string label_;
  double total_;
  bool draw_, drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_{};
};

/// A misd::train::progress_callback for the tool: a bar redrawn in place on a terminal, one
/// plain line per epoch otherwise (training runs are long enough that a log wants them).
class training_progress {
public:
  explicit training_progress(bool terminal = ::isatty(STDERR_FILENO) != 0) : terminal_(terminal) {}

  void operator()(const misd::train::progress& p) {
    const auto now = std::chrono::steady_clock::now();
    if (!p.end_of_epoch() && (!terminal_ || now - last_ < std::chrono::milliseconds(200)))
      return;
    last_ = now;
    if (terminal_) {
      std::fprintf(stderr, "\repoch %zu/%zu %s loss %.4f acc %.2f%% %.0f img/s left %s   ", p.epoch,
                   p.epochs, bar(double(p.batch_done) / double(p.batches)).c_str(), p.loss,
                   100 * p.accuracy, p.images_per_second, clock_time(p.seconds_left).c_str());
      if (p.end_of_epoch())
        std::fputc('\n', stderr);
    } else {
      std::fprintf(stderr, "epoch %zu/%zu loss %.4f acc %.2f%% %.0f img/s %.1f s lr %.4g left %s\n",
                   p.epoch, p.epochs, p.loss, 100 * p.accuracy, p.images_per_second, p.seconds,
                   p.learning_rate, clock_time(p.seconds_left).c_str());
    }
    std::fflush(stderr);
  }

private:
  bool terminal_;
  std::chrono::steady_clock::time_point last_{};
};

} // namespace misd_cli
