#pragma once
// Private header of the solvers library: factories of the built-in update schemes.
#include <memory>

#include <xtensor/xnoalias.hpp>

#include "saddle/solver.hpp"

namespace saddle::solvers {
template <class T> std::unique_ptr<UpdateScheme<T>> make_gda();
template <class T> std::unique_ptr<UpdateScheme<T>> make_alternating_primal_dual();
template <class T> std::unique_ptr<UpdateScheme<T>> make_alternating_dual_primal();
template <class T> std::unique_ptr<UpdateScheme<T>> make_extragradient();
template <class T> std::unique_ptr<UpdateScheme<T>> make_extrapolation_from_the_past();
}  // namespace saddle::solvers
