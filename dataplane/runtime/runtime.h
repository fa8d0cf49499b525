#pragma once
#include <functional>
#include <string>
#include <vector>

#include "dataplane/runtime/runtime_options.h"

namespace pollmsgr {

// The DPDK EAL for this process, started from RuntimeOptions and cleaned up on destruction.
// EAL can start only once per process. Start-up failures throw StartupError.
class Runtime {
 public:
  explicit Runtime(const RuntimeOptions& options, const char* program_name = "pollmsgr");
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  unsigned main_lcore() const;
  std::vector<unsigned> lcores() const;  // main first, then the workers
  unsigned cpu_of(unsigned lcore) const;
  bool hugepages() const { return !options_.no_huge; }

  // Runs fn(lcore) once on every lcore (each pinned to its core by EAL), main included, and
  // returns when all have returned: the first non-zero result, else 0. Launch once per run,
  // never per message (a remote launch costs ~70 us).
  int run_on_all_lcores(const std::function<int(unsigned lcore)>& fn);

  // One line per lcore: its CPU, core, PU and NUMA node, plus warnings (shared physical core,
  // memory on another NUMA node). From hwloc.
  std::string placement_report() const;

  // The EAL argument vector this runtime was started with (for --verbose and tests).
  const std::vector<std::string>& eal_args() const { return eal_args_; }

 private:
  RuntimeOptions options_;
  std::vector<std::string> eal_args_;
};

// Builds the EAL arguments for the options after validating them against this machine: cores
// that exist, and enough free memory of the kind --mem takes (`free_bytes`: hugepages, or with
// --no-huge ordinary memory). Throws StartupError.
std::vector<std::string> build_eal_args(const RuntimeOptions& options, const char* program_name,
                                        unsigned long long free_bytes);

// Free hugepage memory on this host, in bytes, over every hugepage size.
unsigned long long free_hugepage_bytes();
// Memory available for a new process without swapping (/proc/meminfo MemAvailable), bytes.
unsigned long long available_memory_bytes();

}  // namespace pollmsgr
