// examples/misd/score_torch.hpp -- 'misd score' for TorchScript models (*.pt), built when the
// tool links misd::torch (MISD_WITH_TORCH). Declarations only: no torch headers here, so the
// other subcommands' sources never include LibTorch.
#pragma once

namespace misd_cli {
/// Whether `misd score` was given a TorchScript model (--model ending in .pt, .pth or .ts).
bool wants_torchscript(int argc, char** argv);
/// 'misd score --model M.pt ...' through the LibTorch adapter; returns the exit code.
int cmd_score_torch(int argc, char** argv);
} // namespace misd_cli
