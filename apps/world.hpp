#pragma once
/// \file world.hpp
/// The processes of an MPI launch of the `saddle` program (`mpirun -np P saddle ...`).
///
/// Launched by MPI with P > 1 ranks (and built with saddle::mpi), main() starts MPI and
/// every rank runs the subcommand: `train` trains data-parallel (apps/train.cpp), the other
/// subcommands run on rank 0 only. Rank 0 alone writes to stdout and to files; the other
/// ranks keep their error lines and print them only when rank 0 succeeded (so an error
/// common to all ranks is printed once). All ranks exit with the same code.
///
/// Collective protocol of a distributed subcommand (so that no rank waits forever):
///   1. setup: every rank calls agree_setup(ok) exactly once before its first collective step
///      (the subcommand itself when its setup succeeded, finish() on its behalf when setup
///      threw); if any rank failed, none starts;
///   2. exit: finish() agrees on the exit code;
///   a rank that fails after step 1 (e.g. rank 0 cannot write a checkpoint) cannot wait for
///   the others, which are inside a collective step: it prints its error and aborts the job
///   (MPI_Abort with its exit code).

#include <iosfwd>
#include <string>

#include "saddle/data_parallel.hpp"

namespace saddle::cli {

/// The communicator of an MPI launch with more than one rank; nullptr otherwise (one
/// process, or a build without MPI).
saddle::Communicator* world();
/// Rank 0 of the launch, or the only process.
bool is_root();

/// Called by main() before anything else: starts MPI when launched by an MPI launcher.
/// Returns a one-line error (empty on success), e.g. when launched by mpirun without MPI
/// support built in.
std::string start_world(int* argc, char*** argv);

/// Step 1 of the protocol: returns true when every rank passed its setup. Called by a
/// distributed subcommand right before its first collective step.
bool agree_setup(bool ok);
/// agree_setup(true), throwing UsageError when another rank failed (rank 0: "another rank of
/// the MPI launch failed its setup (its error follows)"; the others' line is not shown).
void require_setup_everywhere();

/// Point-to-point messages between the ranks of an MPI launch (world() != nullptr only):
/// blocking send, blocking receive from `source` (-1: any rank; `from` gets the sender), and
/// the sender of a waiting message with `tag` or -1 (never blocks).
void send_message(int dest, int tag, const std::string& bytes);
std::string receive_message(int source, int tag, int* from = nullptr);
int poll_message(int tag);
/// Marks the start and the end of the collective steps of a subcommand (between them, a
/// failure aborts the job).
void begin_collective();
void end_collective();

/// Called by main() after the subcommand: the agreed exit code. Prints this rank's kept
/// error lines `errors` to stderr when they are to be shown (rank 0: always; others: when
/// rank 0 succeeded). One process: returns `code` and prints `errors` as they are.
int finish(int code, const std::string& errors);

}  // namespace saddle::cli
