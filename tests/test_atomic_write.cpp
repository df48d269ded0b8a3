// Tests of misd/detail/atomic_write.hpp: atomic file writes and directory replacement,
// including a child process killed (SIGKILL) in the middle of a write.
#include "misd/detail/atomic_write.hpp"

#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;
using misd::detail::remove_stale_temporaries;
using misd::detail::replace_directory_atomically;
using misd::detail::write_file_atomically;

namespace {

using misd_test::temp_dir;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE(in);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void put(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
  REQUIRE(out);
}

std::set<std::string> names_in(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir))
    names.insert(e.path().filename().string());
  return names;
}

/// Whether `name` has the documented form "<target>.<kind>.<pid>.<16 hex>".
bool is_temp_name(const std::string& name, const std::string& target, const std::string& kind,
                  pid_t pid) {
  const std::string prefix = target + "." + kind + "." + std::to_string(pid) + ".";
  if (name.compare(0, prefix.size(), prefix) != 0 || name.size() != prefix.size() + 16)
    return false;
  return name.find_first_not_of("0123456789abcdef", prefix.size()) == std::string::npos;
}

/// Blocks until the pipe delivers one byte.
void wait_for_byte(int fd) {
  char c = 0;
  REQUIRE(::read(fd, &c, 1) == 1);
}

void kill_and_reap(pid_t pid) {
  REQUIRE(::kill(pid, SIGKILL) == 0);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
}

} // namespace

TEST_CASE("write_file_atomically creates and replaces a file") {
  temp_dir tmp{"misd-test-atomic-"};
  const fs::path f = tmp.path() / "out.bin";
  write_file_atomically(f, [](std::ostream& os) { os << "first"; });
  CHECK(slurp(f) == "first");
  // Large content goes through the direct-write path of the stream buffer.
  const std::string big(1 << 20, 'x');
  write_file_atomically(f, [&](std::ostream& os) {
    os << "second:";
    os.write(big.data(), static_cast<std::streamsize>(big.size()));
  });
  CHECK(slurp(f) == "second:" + big);
  CHECK(names_in(tmp.path()) == std::set<std::string>{"out.bin"});
}

TEST_CASE("write_file_atomically: a writer that throws midway leaves the target unchanged") {
  temp_dir tmp{"misd-test-atomic-"};
  const fs::path f = tmp.path() / "model.npy";
  put(f, "old content");
  CHECK_THROWS_WITH_AS(write_file_atomically(f,
                                             [](std::ostream& os) {
                                               os << std::string(100000, 'n');
                                               throw std::runtime_error("writer failed");
                                             }),
                       "writer failed", std::runtime_error);
  CHECK(slurp(f) == "old content");
  CHECK(names_in(tmp.path()) == std::set<std::string>{"model.npy"}); // no temporary left
}

TEST_CASE("write_file_atomically: an unwritable location throws data_error naming the path") {
  temp_dir tmp{"misd-test-atomic-"};
  const fs::path f = tmp.path() / "no-such-dir" / "x.npy";
  try {
    write_file_atomically(f, [](std::ostream& os) { os << "x"; });
    FAIL("expected misd::data_error");
  } catch (const misd::data_error& e) {
    const std::string what = e.what();
    CHECK(what.find("misd: ") == 0);
    CHECK(what.find(f.string()) != std::string::npos);
    CHECK(what.find("No such file or directory") != std::string::npos);
  }
}

TEST_CASE("replace_directory_atomically creates, then swaps, and removes the old content") {
  temp_dir tmp{"misd-test-atomic-"};
  const fs::path d = tmp.path() / "model";
  replace_directory_atomically(d, [](const fs::path& t) {
    put(t / "weights_0.npy", "w0-v1");
    put(t / "old_only.txt", "gone later");
  });
  CHECK(names_in(d) == std::set<std::string>{"old_only.txt", "weights_0.npy"});
  CHECK(slurp(d / "weights_0.npy") == "w0-v1");

  fs::path seen_tmp;
  replace_directory_atomically(d, [&](const fs::path& t) {
    seen_tmp = t;
    CHECK(fs::is_directory(t));
    CHECK(fs::is_empty(t));
    CHECK(t.parent_path() == tmp.path()); // next to the target
    CHECK(is_temp_name(t.filename().string(), "model", "tmp", ::getpid()));
    put(t / "weights_0.npy", "w0-v2");
    fs::create_directory(t / "sub");
    put(t / "sub" / "nested.txt", "nested");
  });
  CHECK(names_in(d) == std::set<std::string>{"sub", "weights_0.npy"});
  CHECK(slurp(d / "weights_0.npy") == "w0-v2");
  CHECK(slurp(d / "sub" / "nested.txt") == "nested");
  CHECK_FALSE(fs::exists(seen_tmp));
  CHECK(names_in(tmp.path()) == std::set<std::string>{"model"}); // old content removed

  // A trailing separator names the same directory.
  replace_directory_atomically(d.string() + "/",
                               [](const fs::path& t) { put(t / "weights_0.npy", "w0-v3"); });
  CHECK(names_in(tmp.path()) == std::set<std::string>{"model"});
  CHECK(slurp(d / "weights_0.npy") == "w0-v3");
}

TEST_CASE("replace_directory_atomically without RENAME_EXCHANGE (rename-aside fallback)") {
  temp_dir tmp{"misd-test-atomic-"};
  const fs::path d = tmp.path() / "model";
  fs::create_directory(d);
  put(d / "old.txt", "old");
  misd::detail::force_rename_fallback() = true;
  struct reset {
    ~reset() { misd::detail::force_rename_fallback() = false; }
  } reset_flag;
  replace_directory_atomically(d, [](const fs::path& t) { put(t / "new.txt", "new"); });
  CHECK(names_in(d) == std::set<std::string>{"new.txt"});
  CHECK(slurp(d / "new.txt") == "new");
  CHECK(names_in(tmp.path()) == std::set<std::string>{"model"}); // ".old." copy removed
}

TEST_CASE("replace_directory_atomically: a failing fill leaves the previous directory intact") {
  temp_dir tmp{"misd-test-atomic-"};
  const fs::path d = tmp.path() / "model";
  fs::create_directory(d);
  put(d / "a.txt", "A");
  CHECK_THROWS_WITH_AS(replace_directory_atomically(d,
                                                    [](const fs::path& t) {
                                                      put(t / "a.txt", "new");
                                                      throw std::runtime_error("fill failed");
                                                    }),
                       "fill failed", std::runtime_error);
  CHECK(names_in(d) == std::set<std::string>{"a.txt"});
  CHECK(slurp(d / "a.txt") == "A");
  CHECK(names_in(tmp.path()) == std::set<std::string>{"model"});

  // A target that is a regular file is refused.
  put(tmp.path() / "file", "f");
  CHECK_THROWS_AS(replace_directory_atomically(tmp.path() / "file", [](const fs::path&) {}),
                  misd::data_error);
  CHECK(slurp(tmp.path() / "file") == "f");
}

TEST_CASE("a process killed while replacing a directory leaves the previous one intact") {
  temp_dir tmp{"misd-test-atomic-"};
  const fs::path d = tmp.path() / "model";
  fs::create_directory(d);
  put(d / "weights_0.npy", "old weights");
  put(d / "biases_0.npy", "old biases");

  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(fds[0]);
    try {
      replace_directory_atomically(d, [&](const fs::path& t) {
        put(t / "weights_0.npy", "new weights");
        char c = 'x';
        (void)!::write(fds[1], &c, 1); // tell the parent we are mid-way
        for (;;)
          ::pause(); // blocked inside the callback until killed
      });
    } catch (...) {
    }
    ::_exit(3);
  }
  ::close(fds[1]);
  wait_for_byte(fds[0]);
  ::close(fds[0]);
  kill_and_reap(child);

  CHECK(names_in(d) == std::set<std::string>{"biases_0.npy", "weights_0.npy"});
  CHECK(slurp(d / "weights_0.npy") == "old weights");
  CHECK(slurp(d / "biases_0.npy") == "old biases");

  // The leftover temporary has the documented name and can be cleaned up.
  const auto names = names_in(tmp.path());
  REQUIRE(names.size() == 2);
  const std::string leftover =
      *std::find_if(names.begin(), names.end(), [](const std::string& n) { return n != "model"; });
  CHECK(is_temp_name(leftover, "model", "tmp", child));
  CHECK(remove_stale_temporaries(d) == 1);
  CHECK(names_in(tmp.path()) == std::set<std::string>{"model"});
  CHECK(slurp(d / "weights_0.npy") == "old weights");
}

TEST_CASE("a process killed while writing a file leaves the previous file intact") {
  temp_dir tmp{"misd-test-atomic-"};
  const fs::path f = tmp.path() / "scores.npy";
  put(f, "previous scores");

  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(fds[0]);
    try {
      write_file_atomically(f, [&](std::ostream& os) {
        os << std::string(200000, 'p'); // more than the buffer: really written to the temp
        os.flush();
        char c = 'x';
        (void)!::write(fds[1], &c, 1);
        for (;;)
          ::pause();
      });
    } catch (...) {
    }
    ::_exit(3);
  }
  ::close(fds[1]);
  wait_for_byte(fds[0]);
  ::close(fds[0]);
  kill_and_reap(child);

  CHECK(slurp(f) == "previous scores");
  const auto names = names_in(tmp.path());
  REQUIRE(names.size() == 2);
  const std::string leftover = *std::find_if(
      names.begin(), names.end(), [](const std::string& n) { return n != "scores.npy"; });
  CHECK(is_temp_name(leftover, "scores.npy", "tmp", child));
  CHECK(fs::file_size(tmp.path() / leftover) == 200000);
  CHECK(remove_stale_temporaries(f) == 1);
  CHECK(names_in(tmp.path()) == std::set<std::string>{"scores.npy"});
}

TEST_CASE("kills at random moments of repeated replacements never expose a partial directory") {
  temp_dir tmp{"misd-test-atomic-"};
  const fs::path d = tmp.path() / "model";
  const std::vector<std::string> files = {"a.npy", "b.npy", "c.npy", "d.npy"};
  auto fill_with = [&](const fs::path& t, const std::string& tag) {
    for (const auto& f : files)
      put(t / f, tag + ":" + f + ":" + std::string(4096, tag.back()));
  };
  replace_directory_atomically(d, [&](const fs::path& t) { fill_with(t, "gen0"); });

  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> delay_us(0, 3000);
  std::set<std::string> tags_seen;
  for (int round = 0; round < 15; ++round) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      ::close(fds[0]);
      char c = 'x';
      (void)!::write(fds[1], &c, 1);
      try {
        for (int g = 1;; ++g)
          replace_directory_atomically(
              d, [&](const fs::path& t) { fill_with(t, "gen" + std::to_string(g % 10)); });
      } catch (...) {
      }
      ::_exit(3);
    }
    ::close(fds[1]);
    wait_for_byte(fds[0]);
    ::close(fds[0]);
    // Early rounds kill within the first replacement, later ones after several.
    std::this_thread::sleep_for(std::chrono::microseconds(round * 3000 + delay_us(rng)));
    kill_and_reap(child);

    // Whatever moment the kill hit, `model` exists and is one complete generation.
    REQUIRE(fs::is_directory(d));
    const auto names = names_in(d);
    CHECK(names == std::set<std::string>(files.begin(), files.end()));
    const std::string first = slurp(d / files[0]);
    const std::string tag = first.substr(0, first.find(':'));
    for (const auto& f : files)
      CHECK(slurp(d / f) == tag + ":" + f + ":" + std::string(4096, tag.back()));
    tags_seen.insert(tag);
    remove_stale_temporaries(d);
    CHECK(names_in(tmp.path()) == std::set<std::string>{"model"});
  }
  MESSAGE("generations seen after kills: " << tags_seen.size() << " " << *tags_seen.begin() << " "
                                           << *tags_seen.rbegin());
  CHECK(tags_seen.size() >= 2); // the children did replace the directory before dying
}
