#pragma once
// The strict JSON reader of the command-line tests. It now lives in apps/json_read.hpp
// (saddle compare / sweep read child runs with it); this header keeps the tests' spelling
// mini_json::Value / mini_json::parse.

#include "../../apps/json_read.hpp"

namespace mini_json {

using Value = saddle::cli::json_read::Value;
using Parser = saddle::cli::json_read::Parser;
using saddle::cli::json_read::parse;

}  // namespace mini_json
