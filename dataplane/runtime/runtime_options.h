#pragma once
#include <optional>
#include <string>

namespace CLI {
class App;
}

namespace pollmsgr {

// The runtime flags every pollmsgr program shares; they map onto DPDK EAL arguments.
struct RuntimeOptions {
  std::string lcores;                   // --lcores 0-1   (EAL -l)
  std::string coremask;                 // --coremask 0x3 (EAL -c)
  std::optional<unsigned> main_lcore;   // --main-lcore
  unsigned mem_mb = 0;                  // --mem; 0 = default
  bool no_huge = false;                 // --no-huge
  bool verbose = false;                 // --verbose: EAL logging on

  static constexpr unsigned kDefaultMemMb = 256;
  unsigned effective_mem_mb() const { return mem_mb ? mem_mb : kDefaultMemMb; }
};

// Registers the runtime flags on an app (every main uses the same spelling and help).
void add_runtime_options(CLI::App& app, RuntimeOptions& options);

// Parses the command line. Returns -1 to go on, or the status to exit with: 0 after --help,
// 2 after a bad flag (CLI11 has printed what was wrong).
int parse_flags(CLI::App& app, int argc, char** argv);

}  // namespace pollmsgr
