// The memory plan of a session as one short table (info, generate).
#pragma once

#include <string>

#include "edgeformer/session.h"

namespace ef::cli {

// Lines "memory plan ...", one row per component, "total ..."; ends in '\n'.
std::string format_memory_plan(const MemoryPlan& plan);

}  // namespace ef::cli
