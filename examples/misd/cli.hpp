// examples/misd/cli.hpp -- the small pieces every subcommand of the misd tool shares:
// argument parsing with exit-code discipline (0 success, 1 bad data, 2 bad usage).
#pragma once

#include "misd/radius/options.hpp"

#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace misd_cli {

/// Bad usage: exit status 2.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// `--name value` and `--flag` arguments of one subcommand. Unknown names, missing
/// values and repeated options are usage errors.
class args {
public:
  args(int argc, char** argv, int first, std::set<std::string> valued, std::set<std::string> flags)
      : valued_(std::move(valued)), flags_(std::move(flags)) {
    for (int i = first; i < argc; ++i) {
      std::string a = argv[i];
      if (a.rfind("--", 0) != 0)
        throw usage_error("unexpected argument '" + a + "'");
      std::string name = a.substr(2), value;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        if (!valued_.count(name))
          throw usage_error("unknown option --" + name);
      } else if (flags_.count(name)) {
        value = "1";
      } else if (valued_.count(name)) {
        if (i + 1 >= argc)
          throw usage_error("option --" + name + " needs a value");
        value = argv[++i];
      } else {
        throw usage_error("unknown option --" + name);
      }
      if (!values_.emplace(name, value).second)
        throw usage_error("option --" + name + " given twice");
    }
  }
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  std::optional<std::string> get(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end())
      return std::nullopt;
    return it->second;
  }
  std::string required(const std::string& name) const {
    auto v = get(name);
    if (!v)
      throw usage_error("missing required option --" + name);
    return *v;
  }
  double number(const std::string& name, double fallback) const {
    auto v = get(name);
    if (!v)
      return fallback;
    return parse_double(name, *v);
  }
  long long integer(const std::string& name, long long fallback) const {
    auto v = get(name);
    if (!v)
      return fallback;
    std::size_t pos = 0;
    long long r = 0;
    try {
      r = std::stoll(*v, &pos);
    } catch (const std::exception&) {
      pos = 0;
    }
    if (pos != v->size() || v->empty())
      throw usage_error("option --" + name + " expects an integer, got '" + *v + "'");
    return r;
  }
  static double parse_double(const std::string& name, const std::string& v) {
    std::size_t pos = 0;
    double r = 0;
    try {
      r = std::stod(v, &pos);
    } catch (const std::exception&) {
      pos = 0;
    }
    if (pos != v.size() || v.empty())
      throw usage_error("option --" + name + " expects a number, got '" + v + "'");
    return r;
  }
  /// "a,b,c" -> {"a","b","c"}
  static std::vector<std::string> split(const std::string& s, char sep = ',') {
    std::vector<std::string> out;
    std::string cur;
    for (char c : s) {
      if (c == sep) {
        out.push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
    out.push_back(cur);
    return out;
  }

private:
  std::set<std::string> valued_, flags_;
  std::map<std::string, std::string> values_;
};

// One function per subcommand, each in its own source file; each returns the exit code.
int cmd_metrics(int argc, char** argv);
int cmd_score(int argc, char** argv);
int cmd_train(int argc, char** argv);
int cmd_demo(int argc, char** argv);

/// --steps-per-pass S (RR-BS's steps_per_pass): 1 by default, a usage error outside 1..8.
inline int steps_per_pass(const args& a) {
  const long long s = a.integer("steps-per-pass", 1);
  if (s < 1 || s > misd::detail::max_steps_per_pass)
    throw usage_error("--steps-per-pass must be in 1.." +
                      std::to_string(misd::detail::max_steps_per_pass) +
                      " (up to 2^S - 1 probe points per input and pass), got " + std::to_string(s));
  return static_cast<int>(s);
}

} // namespace misd_cli
