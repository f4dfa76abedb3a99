// ProblemRegistry: the seven built-in problems, lookup errors, and entries that are
// consistent with their problems (defaults validate, answers have the right sizes).

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "analytic_test_util.hpp"
#include "saddle/solvers.hpp"

namespace saddle::problems {
namespace {

using testing::builtin_registry;

const std::vector<std::string> kBuiltin{"active-inequality", "equality-qp", "hs21", "inactive-inequality",
                                        "linear-equality", "max-entropy", "norm-constrained-regression"};

TEST(ProblemRegistry, NamesListsTheSevenBuiltinProblems) {
  EXPECT_EQ(builtin_registry().names(), kBuiltin);  // sorted
  for (const auto& name : kBuiltin) EXPECT_TRUE(builtin_registry().contains(name));
  EXPECT_FALSE(builtin_registry().contains("nope"));
}

TEST(ProblemRegistry, UnknownNameThrowsInvalidOptionListingTheChoices) {
  try {
    builtin_registry().get("nope");
    FAIL() << "expected InvalidOption";
  } catch (const InvalidOption& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("unknown problem 'nope'"), std::string::npos) << msg;
    for (const auto& name : kBuiltin) EXPECT_NE(msg.find(name), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line";
  }
}

TEST(ProblemRegistry, AddRejectsDuplicatesAndEmptyEntries) {
  ProblemRegistry r;
  register_builtin_problems(r);
  ProblemEntry dup = r.get("hs21");
  EXPECT_THROW(r.add(dup), InvalidOption);
  ProblemEntry empty;
  EXPECT_THROW(r.add(empty), InvalidOption);
  ProblemEntry custom = r.get("hs21");
  custom.name = "hs21-copy";
  r.add(custom);
  EXPECT_EQ(r.names().size(), 8u);
  EXPECT_EQ(r.get("hs21-copy").description, r.get("hs21").description);
}

TEST(ProblemRegistry, EntriesAreConsistentWithTheirProblems) {
  for (const auto& name : kBuiltin) {
    SCOPED_TRACE(name);
    const ProblemEntry& e = builtin_registry().get(name);
    EXPECT_EQ(e.name, name);
    EXPECT_FALSE(e.description.empty());
    auto p = e.make();
    ASSERT_TRUE(p);
    const KnownAnswer a = e.answer();
    EXPECT_EQ(a.x.size(), p->num_parameters());
    EXPECT_EQ(a.multipliers.size(), p->constraints().size());
    EXPECT_FALSE(e.converging_schemes.empty());
    const auto schemes = scheme_names();
    for (const auto& s : e.converging_schemes)
      EXPECT_NE(std::find(schemes.begin(), schemes.end(), s), schemes.end()) << s;
    for (const auto& s : schemes) {
      for (auto f : {FormulationKind::lagrangian, FormulationKind::augmented_lagrangian,
                     FormulationKind::quadratic_penalty, FormulationKind::fixed_penalty}) {
        const SolverOptions o = e.defaults(s, f);
        EXPECT_NO_THROW(o.validate()) << s << " " << to_string(f);
        EXPECT_EQ(o.formulation.kind, f);
        if (f == FormulationKind::fixed_penalty) {
          EXPECT_EQ(o.initial_multipliers, a.multipliers);
        }
        if (p->num_samples() > 0) {
          EXPECT_GT(o.max_epochs, 0u);
          EXPECT_GT(o.batch_size, 0u);
        } else {
          EXPECT_GT(o.tolerance, 0.0);
        }
      }
    }
  }
}

TEST(ProblemRegistry, LinearEqualityConvergesOnlyWithExtrapolation) {
  EXPECT_EQ(builtin_registry().get("linear-equality").converging_schemes,
            (std::vector<std::string>{"extragradient", "extrapolation-from-the-past"}));
  EXPECT_EQ(builtin_registry().get("hs21").converging_schemes.size(), 5u);
}

}  // namespace
}  // namespace saddle::problems
