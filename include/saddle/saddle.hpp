#pragma once
/// \file saddle.hpp
/// Umbrella header of the core API.

#include "saddle/callbacks.hpp"
#include "saddle/formulation.hpp"
#include "saddle/gradient_check.hpp"
#include "saddle/options.hpp"
#include "saddle/plugin.hpp"
#include "saddle/problem.hpp"
#include "saddle/rules.hpp"
#include "saddle/solver.hpp"
#include "saddle/summary.hpp"
#include "saddle/types.hpp"
#include "saddle/version.hpp"
