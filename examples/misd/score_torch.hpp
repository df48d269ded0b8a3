// examples/misd/score_torch.hpp -- 'misd score' for TorchScript models (*.pt), built when the
// tool links misd::torch (MISD_WITH_TORCH). Declarations only: no torch headers here, so the
// other subcommands' sources never include LibTorch.
#pragma once

#include "options.hpp"

#include <string>

namespace misd_cli {
/// Whether --model names a TorchScript model (a path ending in .pt, .pth or .ts).
bool is_torchscript(const std::string& model_path);
/// 'misd score --model M.pt ...' through the LibTorch adapter; returns the exit code.
int cmd_score_torch(const score_options& o);
} // namespace misd_cli
