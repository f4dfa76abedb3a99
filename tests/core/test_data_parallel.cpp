// DataParallelProblem without MPI: the shards, the one-process communicator (results equal
// the wrapped problem's bit for bit) and the rejection of deterministic problems. The
// two-rank comparison runs under mpirun (tests/mpi/data_parallel_check.cpp).
#include <gtest/gtest.h>

#include "saddle/data_parallel.hpp"
#include "saddle/solvers.hpp"
#include "toy_problems.hpp"

using namespace saddle;

TEST(DataParallel, ShardsCoverTheBatchContiguouslyInRankOrder) {
  for (std::size_t rows : {0u, 1u, 2u, 5u, 37u, 128u}) {
    for (int size : {1, 2, 3, 8}) {
      std::size_t next = 0;
      for (int r = 0; r < size; ++r) {
        const Shard s = shard_of(rows, r, size);
        EXPECT_EQ(s.offset, next) << rows << " rows, rank " << r << " of " << size;
        next += s.count;
        const std::size_t base = rows / static_cast<std::size_t>(size);
        EXPECT_TRUE(s.count == base || s.count == base + 1);
      }
      EXPECT_EQ(next, rows);
    }
  }
  EXPECT_EQ(shard_of(37, 0, 2).count, 19u);
  EXPECT_EQ(shard_of(37, 1, 2).offset, 19u);
  EXPECT_THROW(shard_of(10, 2, 2), InvalidOption);
  EXPECT_THROW(shard_of(10, 0, 0), InvalidOption);
}

TEST(DataParallel, OneProcessEqualsTheWrappedProblem) {
  SolverOptions o;
  o.primal.kind = PrimalRuleKind::adam;
  o.primal.lr = 0.05;
  o.dual.lr = 0.1;
  o.batch_size = 7;
  o.max_epochs = 4;
  o.max_iterations = 0;
  o.seed = 3;
  test::NoisyMean alone, inner;
  SerialCommunicator comm;
  DataParallelProblem<double> wrapped(inner, comm);
  const auto a = solve(alone, o, "extragradient");
  const auto b = solve(wrapped, o, "extragradient");
  EXPECT_EQ(a.iterations, b.iterations);
  ASSERT_EQ(a.x.size(), b.x.size());
  for (std::size_t i = 0; i < a.x.size(); ++i) EXPECT_EQ(a.x(i), b.x(i));
  for (std::size_t i = 0; i < a.multipliers.size(); ++i) EXPECT_EQ(a.multipliers(i), b.multipliers(i));
  EXPECT_EQ(wrapped.last_shard().offset, 0u);
}

TEST(DataParallel, RejectsDeterministicProblems) {
  test::Parabola p;
  SerialCommunicator comm;
  try {
    DataParallelProblem<double> wrapped(p, comm);
    FAIL() << "no exception";
  } catch (const InvalidOption& e) {
    EXPECT_NE(std::string(e.what()).find("deterministic"), std::string::npos) << e.what();
  }
}
