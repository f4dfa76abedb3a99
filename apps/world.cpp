// The processes of an MPI launch (apps/world.hpp).
#include "world.hpp"

#include "cli_common.hpp"

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <stdexcept>

#ifdef SADDLE_HAS_MPI
#include "saddle/mpi.hpp"
#endif

namespace saddle::cli {
namespace {

struct World {
#ifdef SADDLE_HAS_MPI
  std::unique_ptr<saddle::mpi::Session> session;
  std::unique_ptr<saddle::mpi::Communicator> comm;
#endif
  bool setup_agreed = false;
  bool setup_ok = true;  // this rank's own setup
  bool in_collective = false;
};

World& the_world() {
  static World w;
  return w;
}

// Error lines of a rank other than 0 name the rank: "saddle (rank 1): error: ...".
std::string with_rank(const std::string& errors, int rank) {
  if (rank == 0) return errors;
  std::string out, line;
  for (char ch : errors) {
    line += ch;
    if (ch != '\n') continue;
    out += line.rfind("saddle: ", 0) == 0 ? "saddle (rank " + std::to_string(rank) + "): " + line.substr(8) : line;
    line.clear();
  }
  return out + line;
}

}  // namespace

saddle::Communicator* world() {
#ifdef SADDLE_HAS_MPI
  auto& w = the_world();
  if (w.comm && w.comm->size() > 1) return w.comm.get();
#endif
  return nullptr;
}

bool is_root() { return world() == nullptr || world()->rank() == 0; }

std::string start_world(int* argc, char*** argv) {
#ifdef SADDLE_HAS_MPI
  if (!saddle::mpi::Session::launched()) return {};
  auto& w = the_world();
  try {
    w.session = std::make_unique<saddle::mpi::Session>(argc, argv);
    w.comm = std::make_unique<saddle::mpi::Communicator>();
  } catch (const std::exception& e) {
    return e.what();
  }
  return {};
#else
  (void)argc;
  (void)argv;
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}) {
    const char* size = std::getenv(name);
    if (size != nullptr && std::string(size) != "1")
      return "launched by MPI with " + std::string(size) +
             " ranks, but this saddle was built without MPI (apt-get install libopenmpi-dev openmpi-bin, then rebuild)";
  }
  return {};
#endif
}

bool agree_setup(bool ok) {
  auto& w = the_world();
  w.setup_agreed = true;
  w.setup_ok = ok;
  auto* comm = world();
  if (comm == nullptr) return ok;
  double failed = ok ? 0.0 : 1.0;
  comm->allreduce_sum(&failed, 1);
  return failed == 0.0;
}

void require_setup_everywhere() {
  if (agree_setup(true)) return;
  throw UsageError(is_root() ? "another rank of the MPI launch failed its setup (its error follows)"
                             : "another rank of the MPI launch failed its setup");
}

#ifdef SADDLE_HAS_MPI
namespace {
saddle::mpi::Communicator& mpi_world() {
  auto& w = the_world();
  if (!w.comm || w.comm->size() < 2) throw std::logic_error("point-to-point message outside an MPI launch");
  return *w.comm;
}
}  // namespace
void send_message(int dest, int tag, const std::string& bytes) { mpi_world().send(dest, tag, bytes); }
std::string receive_message(int source, int tag, int* from) { return mpi_world().receive(source, tag, from); }
int poll_message(int tag) { return mpi_world().poll(tag); }
#else
void send_message(int, int, const std::string&) { throw std::logic_error("built without MPI"); }
std::string receive_message(int, int, int*) { throw std::logic_error("built without MPI"); }
int poll_message(int) { throw std::logic_error("built without MPI"); }
#endif

void begin_collective() { the_world().in_collective = true; }
void end_collective() { the_world().in_collective = false; }

int finish(int code, const std::string& errors) {
  auto& w = the_world();
  auto* comm = world();
  if (comm == nullptr) {
    std::cerr << errors << std::flush;
    return code;
  }
  const bool root = comm->rank() == 0;
#ifdef SADDLE_HAS_MPI
  if (w.in_collective) {
    // The other ranks are inside a collective step and cannot hear an agreement.
    std::cerr << with_rank(errors, comm->rank()) << std::flush;
    w.comm->abort(code == 0 ? 1 : code);
  }
#endif
  if (!w.setup_agreed) agree_setup(code == 0);
  // Sums only: slot 0 = rank 0's code, slot 1 = 1 if rank 0's own setup failed, slot
  // 2 + c = number of ranks that exit with code c.
  double slots[2 + 256] = {};
  slots[0] = root ? code : 0;
  slots[1] = root && !w.setup_ok ? 1.0 : 0.0;
  slots[2 + (code & 0xff)] = 1.0;
  comm->allreduce_sum(slots, 2 + 256);
  const int root_code = static_cast<int>(slots[0]);
  const bool root_setup_failed = slots[1] > 0.0;
  int agreed = root_code;
  if (agreed == 0)
    for (int c = 255; c > 0; --c)
      if (slots[2 + c] > 0.0) {
        agreed = c;
        break;
      }
  // Rank 0's errors always; another rank's when they are not rank 0's own (an error common
  // to all ranks, e.g. a bad flag, is printed once).
  if (root || root_code == 0 || !root_setup_failed) std::cerr << with_rank(errors, comm->rank()) << std::flush;
  return agreed;
}

}  // namespace saddle::cli
