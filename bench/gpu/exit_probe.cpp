// bench/gpu/exit_probe.cpp -- which step makes a LibTorch process crash at exit on CUDA?
// Without misd: optionally runs a shell command through std::system (as test_torch did to
// export its TorchScript files) and optionally keeps a static scratch folder removed at exit,
// then loads a TorchScript file on the device, runs one forward pass and returns 0. The
// caller reads the exit status (bench/gpu/run.sh).
//
//   exit_probe MODEL.pt DEVICE [--system CMD] [--after] [--static-dir]
//     --system CMD   std::system(CMD) before the model is loaded (or after, with --after)
//     --static-dir   a function-local static that removes a mkdtemp folder at exit
#include <torch/script.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

namespace {
struct scratch {
  std::filesystem::path p;
  scratch() {
    std::string t = (std::filesystem::temp_directory_path() / "exit-probe-XXXXXX").string();
    if (::mkdtemp(t.data()) != nullptr)
      p = t;
  }
  ~scratch() {
    std::error_code ec;
    std::filesystem::remove_all(p, ec);
  }
};
const scratch& static_dir() {
  static const scratch s;
  return s;
}
} // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: exit_probe MODEL.pt DEVICE [--system CMD] [--after] [--static-dir]\n";
    return 2;
  }
  std::string cmd;
  bool after = false, dir = false;
  for (int i = 3; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--system" && i + 1 < argc)
      cmd = argv[++i];
    else if (a == "--after")
      after = true;
    else if (a == "--static-dir")
      dir = true;
  }
  if (dir)
    (void)static_dir();
  if (!cmd.empty() && !after)
    std::cout << "system before load: " << std::system(cmd.c_str()) << std::endl;
  const torch::Device dev(argv[2]);
  auto m = torch::jit::load(argv[1], dev);
  m.eval();
  {
    torch::NoGradGuard ng;
    const auto z = m.forward({torch::rand({4, 1, 8, 8}, dev)}).toTensor();
    std::cout << "forward: " << z.sizes() << std::endl;
  }
  if (!cmd.empty() && after)
    std::cout << "system after load: " << std::system(cmd.c_str()) << std::endl;
  return 0;
}
