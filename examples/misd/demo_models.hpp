// examples/misd/demo_models.hpp -- the demo's training recipes and its model cache.
//
// A cache entry is a directory <cache>/<arch>-<objective>-seed<seed> holding the model
// (model/) and recipe.json: the full recipe, the library's version, a hash of the code that
// training depends on (generated at configure time, examples/CMakeLists.txt), and a
// checksum of every model file. The entry
// is written as a whole by replace_directory_atomically, so an interrupted run leaves
// either the previous entry or none; an entry whose recipe differs, or whose files do not
// match their checksums, is reported and retrained, never trusted.
#pragma once

#include "misd/data/idx.hpp"
#include "misd/detail/atomic_write.hpp"
#include "misd/train.hpp"
#include "misd/version.hpp"
#include "misd_training_code_hash.hpp"
#include "progress.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>

namespace misd_cli::demo {

/// Everything that determines a trained model.
struct recipe {
  std::string regime;    ///< "regularised" or "over-confident"
  std::string arch;      ///< "mlp" or "cnn"
  std::string objective; ///< standard, rat, at, reverse-at
  std::size_t epochs = 10, batch = 128, train_images = 60000;
  double learning_rate = 0.05, weight_decay = 5e-4, epsilon = 1e-3;
  std::uint64_t seed = 0;
  int threads = 1; ///< training threads: results are bit-identical for a fixed count

  nlohmann::json to_json() const {
    return {{"regime", regime},
            {"arch", arch},
            {"objective", objective},
            {"epochs", epochs},
            {"batch", batch},
            {"train_images", train_images},
            {"learning_rate", learning_rate},
            {"weight_decay", weight_decay},
            {"epsilon", epsilon},
            {"seed", seed},
            {"threads", threads},
            {"format", 1},
            {"library_version", std::to_string(MISD_VERSION_MAJOR) + "." +
                                    std::to_string(MISD_VERSION_MINOR) + "." +
                                    std::to_string(MISD_VERSION_PATCH)},
            {"training_code", MISD_TRAINING_CODE_HASH}};
  }
  std::string entry_name() const { return arch + "-" + objective + "-seed" + std::to_string(seed); }
  misd::train::objective kind() const {
    using k = misd::train::objective;
    if (objective == "standard")
      return k::standard;
    if (objective == "rat")
      return k::rat;
    if (objective == "at")
      return k::at;
    return k::reverse_at;
  }
};

/// FNV-1a 64 of a file's bytes, as hex.
inline std::string file_checksum(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in)
    throw misd::data_error(misd::detail::message("cannot read ", p.string()));
  std::uint64_t h = 1469598103934665603ull;
  char buf[1 << 16];
  while (in) {
    in.read(buf, sizeof buf);
    for (std::streamsize i = 0; i < in.gcount(); ++i)
      h = (h ^ static_cast<unsigned char>(buf[i])) * 1099511628211ull;
  }
  std::ostringstream os;
  os << std::hex << h;
  return os.str();
}

inline nlohmann::json checksums(const std::filesystem::path& dir) {
  nlohmann::json sums = nlohmann::json::object();
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.is_regular_file())
      sums[e.path().filename().string()] = file_checksum(e.path());
  return sums;
}

/// How the demo builds, saves and loads one kind of model.
template <class Model>
struct model_kind {
  std::function<Model(std::uint64_t seed)> make;
  std::function<void(const std::filesystem::path&, const Model&)> save;
  std::function<Model(const std::filesystem::path&)> load;
};

/// The cached model of `r`, or a freshly trained one (then cached). Reports to stderr,
/// unless quiet.
template <class Model>
Model cached_or_trained(const recipe& r, const model_kind<Model>& kind,
                        const std::filesystem::path& cache, const misd::data::dataset& train,
                        bool quiet = false) {
  namespace fs = std::filesystem;
  const fs::path entry = cache / r.entry_name();
  misd::detail::remove_stale_temporaries(entry); // leftovers of an interrupted run
  if (fs::exists(entry)) {
    std::string why;
    try {
      std::ifstream in(entry / "recipe.json");
      if (!in)
        throw misd::data_error("recipe.json is missing");
      const auto saved = nlohmann::json::parse(in);
      if (saved.at("recipe") != r.to_json())
        why = "it was made by another recipe (" + saved.at("recipe").dump() + ")";
      else if (saved.at("checksums") != checksums(entry / "model"))
        why = "its model files do not match their checksums (damaged or half-written)";
      else {
        Model m = kind.load(entry / "model");
        if (!quiet)
          std::cerr << "misd demo: using cached model " << entry.string() << "\n";
        return m;
      }
    } catch (const std::exception& e) {
      why = std::string("it cannot be read: ") + e.what();
    }
    std::cerr << "misd demo: not using cache entry " << entry.string() << ": " << why
              << "; retraining\n";
  }

  Model model = kind.make(r.seed);
  misd::train::train_options o;
  o.epochs = r.epochs;
  o.batch_size = r.batch;
  o.learning_rate = r.learning_rate;
  o.sgd.weight_decay = r.weight_decay;
  o.objective.kind = r.kind();
  o.objective.epsilon = r.epsilon;
  o.seed = r.seed;
  if (!quiet)
    std::cerr << "misd demo: training " << r.arch << " (" << r.regime << "), " << r.objective
              << ", " << r.epochs << " epochs on " << train.labels.size() << " images\n";
  misd::train::progress_callback report;
  if (!quiet)
    report = training_progress();
  misd::train::fit(model, {train.images, train.labels}, o, report);
  fs::create_directories(cache);
  misd::detail::replace_directory_atomically(entry, [&](const fs::path& tmp) {
    kind.save(tmp / "model", model);
    nlohmann::json j{{"recipe", r.to_json()}, {"checksums", checksums(tmp / "model")}};
    misd::detail::write_file_atomically(tmp / "recipe.json",
                                        [&](std::ostream& os) { os << j.dump(2) << "\n"; });
  });
  return model;
}

} // namespace misd_cli::demo
