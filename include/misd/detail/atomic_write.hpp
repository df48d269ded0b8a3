// misd/detail/atomic_write.hpp -- write a file or replace a directory atomically (POSIX/Linux).
//
// A reader (or a process that crashes mid-write) sees either the complete old content or the
// complete new content, never a partial file:
//
// - write_file_atomically(path, writer): `writer` streams the content into a temporary file
//   next to `path`, which is fsync'ed and then renamed over `path`.
// - replace_directory_atomically(dir, fill): `fill` populates a fresh temporary directory
//   next to `dir`; its files are fsync'ed, then the directory is renamed into place, or, when
//   `dir` exists, swapped with it by renameat2(RENAME_EXCHANGE) and the old content removed.
//   Where the file system cannot exchange, the old directory is renamed aside first (a crash
//   between the two renames then leaves `dir` missing but the old content under its
//   `.old.` name, see below).
//
// Temporaries. A crash (SIGKILL, power loss) can leave these siblings of the target behind;
// the target itself is never partial:
//   <name>.tmp.<pid>.<16 hex digits>   a temporary file or directory being written
//   <name>.old.<pid>.<16 hex digits>   an old directory renamed aside, about to be removed
// where <name> is the target's file name and <pid> the writing process. They can be removed
// by hand, or with remove_stale_temporaries(target), which removes those whose process is no
// longer running.
//
// Failures throw misd::data_error naming the path and the system's reason (errno text).
#pragma once

#include "misd/error.hpp"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <ostream>
#include <random>
#include <streambuf>
#include <string>
#include <string_view>
#include <system_error>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace misd::detail {

inline std::string errno_text(int err) {
  return std::error_code(err, std::generic_category()).message();
}

/// The target's own name, also for paths that end in a separator ("model/").
inline std::filesystem::path normalized_target(const std::filesystem::path& target) {
  std::filesystem::path p = target;
  while (p.has_relative_path() && p.filename().empty())
    p = p.parent_path();
  if (p.filename().empty() || p.filename() == "." || p.filename() == "..")
    throw misd::invalid_argument(
        message("cannot write atomically to '", target.string(), "': it does not name a file"));
  return p;
}

inline std::filesystem::path parent_or_dot(const std::filesystem::path& p) {
  return p.has_parent_path() ? p.parent_path() : std::filesystem::path(".");
}

/// "<name>.<kind>.<pid>.<16 hex digits>" next to `target`.
inline std::filesystem::path sibling_name(const std::filesystem::path& target,
                                          std::string_view kind) {
  static thread_local std::mt19937_64 rng{[] {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^ static_cast<std::uint64_t>(::getpid());
  }()};
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(rng()));
  std::string name = target.filename().string();
  name += '.';
  name += kind;
  name += '.';
  name += std::to_string(::getpid());
  name += '.';
  name += hex;
  return target.parent_path() / name;
}

/// fsync a file or directory by path; returns 0 or errno.
inline int fsync_path(const std::filesystem::path& p, bool directory) {
  int fd = ::open(p.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0)
    return errno;
  int rc = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  // Some file systems do not support fsync on directories; that is not an error here.
  if (directory && (rc == EINVAL || rc == EROFS))
    rc = 0;
  return rc;
}

/// A write-only stream buffer over a file descriptor that remembers the first write error.
class fd_streambuf : public std::streambuf {
public:
  explicit fd_streambuf(int fd) : fd_(fd) { setp(buffer_, buffer_ + sizeof buffer_); }
  fd_streambuf(const fd_streambuf&) = delete;
  fd_streambuf& operator=(const fd_streambuf&) = delete;
  int error() const { return error_; }

protected:
  int_type overflow(int_type ch) override {
    if (!flush_buffer())
      return traits_type::eof();
    if (!traits_type::eq_int_type(ch, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(ch);
      pbump(1);
    }
    return traits_type::not_eof(ch);
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    if (n >= static_cast<std::streamsize>(sizeof buffer_)) {
      if (!flush_buffer() || !write_all(s, static_cast<std::size_t>(n)))
        return 0;
      return n;
    }
    return std::streambuf::xsputn(s, n);
  }
  int sync() override { return flush_buffer() ? 0 : -1; }

private:
  bool flush_buffer() {
    const std::size_t n = static_cast<std::size_t>(pptr() - pbase());
    const bool ok = write_all(pbase(), n);
    setp(buffer_, buffer_ + sizeof buffer_);
    return ok;
  }
  bool write_all(const char* s, std::size_t n) {
    if (error_ != 0)
      return false;
    while (n > 0) {
      const ssize_t w = ::write(fd_, s, n);
      if (w < 0) {
        if (errno == EINTR)
          continue;
        error_ = errno;
        return false;
      }
      s += w;
      n -= static_cast<std::size_t>(w);
    }
    return true;
  }

  int fd_;
  int error_ = 0;
  char buffer_[1 << 16];
};

/// Whether a process with this id is running (or exists but is not ours to signal).
inline bool process_alive(long pid) {
  if (pid <= 0)
    return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

/// Testing hook: when true, replace_directory_atomically skips RENAME_EXCHANGE and takes the
/// rename-aside fallback that file systems without it use.
inline bool& force_rename_fallback() {
  static bool force = false;
  return force;
}

/// Writes `path` atomically: `writer` streams the content into "<name>.tmp.<pid>.<random>" in
/// the same directory, which is fsync'ed and renamed over `path`. If `writer` throws, or a
/// write, fsync or rename fails, the temporary is removed and `path` is left as it was; a
/// system failure throws misd::data_error naming the path and errno text, an exception from
/// `writer` is rethrown unchanged. A new file gets mode 0666 minus the umask.
inline void write_file_atomically(const std::filesystem::path& path,
                                  const std::function<void(std::ostream&)>& writer) {
  const std::filesystem::path target = normalized_target(path);

  std::filesystem::path tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    tmp = sibling_name(target, "tmp");
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) {
      const int err = errno;
      throw data_error(message("cannot write '", path.string(), "': cannot create temporary file '",
                               tmp.string(), "': ", errno_text(err)));
    }
  }
  if (fd < 0)
    throw data_error(message("cannot write '", path.string(),
                             "': no free temporary file name in its directory"));

  auto fail = [&](const std::string& what, int err) {
    if (fd >= 0)
      ::close(fd);
    ::unlink(tmp.c_str());
    throw data_error(message("cannot write '", path.string(), "': ", what, ": ", errno_text(err)));
  };

  {
    fd_streambuf buf(fd);
    std::ostream os(&buf);
    try {
      writer(os);
      os.flush();
    } catch (...) {
      ::close(fd);
      ::unlink(tmp.c_str());
      throw;
    }
    if (buf.error() != 0)
      fail("write failed", buf.error());
    if (!os)
      fail("write failed", EIO);
  }
  if (::fsync(fd) != 0)
    fail("fsync failed", errno);
  {
    const int rc = ::close(fd);
    fd = -1;
    if (rc != 0)
      fail("close failed", errno);
  }
  if (::rename(tmp.c_str(), target.c_str()) != 0)
    fail("cannot rename temporary file '" + tmp.string() + "' over it", errno);
  (void)fsync_path(parent_or_dot(target), true);
}

/// Replaces the directory `dir` atomically. `fill` receives a fresh, empty temporary directory
/// "<name>.tmp.<pid>.<random>" next to `dir` and writes the new content into it. Then the files
/// are fsync'ed and the directory is renamed to `dir` (if absent) or exchanged with it by
/// renameat2(RENAME_EXCHANGE), after which the old content is removed. If `fill` throws, the
/// temporary directory is removed, the exception rethrown, and `dir` is untouched. A `dir`
/// that exists but is not a directory, or a failing system call, throws misd::data_error.
inline void replace_directory_atomically(
    const std::filesystem::path& dir,
    const std::function<void(const std::filesystem::path& tmp_dir)>& fill) {
  namespace fs = std::filesystem;
  const fs::path target = normalized_target(dir);

  std::error_code ec;
  const fs::file_status st = fs::symlink_status(target, ec);
  if (fs::exists(st) && !fs::is_directory(st))
    throw data_error(
        message("cannot replace directory '", dir.string(), "': it exists and is not a directory"));

  fs::path tmp;
  bool made = false;
  for (int attempt = 0; attempt < 100 && !made; ++attempt) {
    tmp = sibling_name(target, "tmp");
    if (::mkdir(tmp.c_str(), 0777) == 0)
      made = true;
    else if (errno != EEXIST) {
      const int err = errno;
      throw data_error(message("cannot replace directory '", dir.string(),
                               "': cannot create temporary directory '", tmp.string(),
                               "': ", errno_text(err)));
    }
  }
  if (!made)
    throw data_error(message("cannot replace directory '", dir.string(),
                             "': no free temporary directory name next to it"));

  auto remove_tmp = [&] {
    std::error_code ignored;
    fs::remove_all(tmp, ignored);
  };
  auto fail = [&](const std::string& what, int err) {
    remove_tmp();
    throw data_error(
        message("cannot replace directory '", dir.string(), "': ", what, ": ", errno_text(err)));
  };

  try {
    fill(tmp);
  } catch (...) {
    remove_tmp();
    throw;
  }

  // Make the new content durable before it becomes visible under the target's name.
  {
    std::error_code it_ec;
    for (fs::recursive_directory_iterator it(tmp, it_ec), end; !it_ec && it != end;
         it.increment(it_ec)) {
      const fs::file_status s = it->symlink_status(it_ec);
      if (it_ec)
        break;
      if (fs::is_regular_file(s) || fs::is_directory(s))
        if (const int err = fsync_path(it->path(), fs::is_directory(s)); err != 0)
          fail("fsync of '" + it->path().string() + "' failed", err);
    }
    if (it_ec)
      fail("cannot list temporary directory '" + tmp.string() + "'", it_ec.value());
    if (const int err = fsync_path(tmp, true); err != 0)
      fail("fsync of '" + tmp.string() + "' failed", err);
  }

  const fs::path parent = parent_or_dot(target);
  if (!fs::exists(fs::symlink_status(target, ec))) {
    if (::rename(tmp.c_str(), target.c_str()) == 0) {
      (void)fsync_path(parent, true);
      return;
    }
    // Someone created the target in the meantime: exchange with it below.
    if (errno != EEXIST && errno != ENOTEMPTY)
      fail("cannot rename '" + tmp.string() + "' to it", errno);
  }

#if defined(SYS_renameat2)
#ifndef RENAME_EXCHANGE
#define MISD_RENAME_EXCHANGE_ (1 << 1)
#else
#define MISD_RENAME_EXCHANGE_ RENAME_EXCHANGE
#endif
  const long rc = force_rename_fallback()
                      ? (errno = ENOSYS, -1L)
                      : ::syscall(SYS_renameat2, AT_FDCWD, tmp.c_str(), AT_FDCWD, target.c_str(),
                                  static_cast<unsigned>(MISD_RENAME_EXCHANGE_));
#undef MISD_RENAME_EXCHANGE_
  const int exchange_errno = rc == 0 ? 0 : errno;
#else
  const long rc = -1;
  const int exchange_errno = ENOSYS;
#endif
  if (rc == 0) {
    // `tmp` now holds the old content.
    (void)fsync_path(parent, true);
    remove_tmp();
    return;
  }
  if (exchange_errno != ENOSYS && exchange_errno != EINVAL && exchange_errno != EOPNOTSUPP)
    fail("cannot exchange '" + tmp.string() + "' with it", exchange_errno);

  // Fallback without RENAME_EXCHANGE: old aside, new in, old removed.
  const fs::path old = sibling_name(target, "old");
  if (::rename(target.c_str(), old.c_str()) != 0)
    fail("cannot move it aside to '" + old.string() + "'", errno);
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    const int err = errno;
    (void)::rename(old.c_str(), target.c_str());
    fail("cannot rename '" + tmp.string() + "' to it", err);
  }
  (void)fsync_path(parent, true);
  std::error_code ignored;
  fs::remove_all(old, ignored);
}

/// Removes the temporaries that an interrupted write_file_atomically or
/// replace_directory_atomically of `target` left behind ("<name>.tmp.<pid>.<hex>" and
/// "<name>.old.<pid>.<hex>") whose process <pid> is no longer running. Returns how many it
/// removed. Never touches `target` itself.
inline std::size_t remove_stale_temporaries(const std::filesystem::path& target) {
  namespace fs = std::filesystem;
  const fs::path t = normalized_target(target);
  const std::string name = t.filename().string();
  std::size_t removed = 0;
  std::error_code ec;
  for (fs::directory_iterator it(parent_or_dot(t), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string f = it->path().filename().string();
    for (std::string_view kind : {".tmp.", ".old."}) {
      const std::string prefix = name + std::string(kind);
      if (f.size() <= prefix.size() || f.compare(0, prefix.size(), prefix) != 0)
        continue;
      const std::string rest = f.substr(prefix.size()); // "<pid>.<hex>"
      const std::size_t dot = rest.find('.');
      if (dot == 0 || dot == std::string::npos || rest.size() - dot - 1 != 16)
        continue;
      if (rest.find_first_not_of("0123456789") != dot ||
          rest.find_first_not_of("0123456789abcdef", dot + 1) != std::string::npos)
        continue;
      if (process_alive(std::stol(rest.substr(0, dot))))
        continue;
      std::error_code rm;
      if (fs::remove_all(it->path(), rm) > 0 && !rm)
        ++removed;
    }
  }
  return removed;
}

} // namespace misd::detail
