// Built against the installed misd with find_package(misd COMPONENTS io): an NPY file
// written and read back, and a report as JSON.
#include <misd/io.hpp>
#include <misd/misd.hpp>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

int main() {
  const auto dir =
      std::filesystem::temp_directory_path() / ("misd-consumer-io-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::vector<float> v{1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f};
  const std::vector<std::size_t> shape{2, 3};
  misd::data::write_npy<float>(dir / "a.npy", v, shape);
  const auto m = misd::data::read_npy_matrix<float>(dir / "a.npy");
  std::filesystem::remove_all(dir);
  const bool npy_ok = m.values.shape()[0] == 2 && m.values.shape()[1] == 3 &&
                      m.values(1, 2) == 6.0f && m.values(0, 1) == 2.0f;
  const auto j = misd::eval::to_json(misd::eval::protocol_report{});
  const bool json_ok = j.at("methods").is_array() && j.at("n") == 0;
  std::printf("consumer io: NPY round trip %s, JSON report %s\n", npy_ok ? "ok" : "WRONG",
              json_ok ? "ok" : "WRONG");
  return npy_ok && json_ok ? 0 : 1;
}
