// `edgeformer train` and `edgeformer eval` (src/train). Registration is
// self-contained so main() needs one line:
//   for (auto& c : ef::cli::add_train_commands(app)) commands.push_back({c.first, c.second});
#pragma once

#include <functional>
#include <utility>
#include <vector>

#include "edgeformer/error.h"

namespace CLI {
class App;
}

namespace ef::cli {

using TrainCommand = std::pair<CLI::App*, std::function<Status()>>;
std::vector<TrainCommand> add_train_commands(CLI::App& app);

}  // namespace ef::cli
