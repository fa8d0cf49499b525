// pollmsgr_probe: start the runtime from the usual flags, report where each lcore runs, and time
// buffer-pool get/put on every lcore. The quickest check that a host is set up for pollmsgr.
#include <sched.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fmt/format.h>
#include <mutex>
#include <vector>

#include "dataplane/mem/buffer_pool.h"
#include "dataplane/runtime/core_list.h"
#include "dataplane/runtime/runtime.h"
#include "dataplane/runtime/startup_error.h"

using namespace pollmsgr;

namespace {

std::string current_affinity() {
  cpu_set_t set;
  CPU_ZERO(&set);
  sched_getaffinity(0, sizeof(set), &set);
  std::set<unsigned> cpus;
  for (unsigned c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.insert(c);
  return format_core_list(cpus);
}

double ns_per_get_put(BufferPool& pool, int rounds) {
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < rounds; ++i) {
    Buffer* b = pool.get();
    b->length = 1;
    pool.put(b);
  }
  std::chrono::duration<double, std::nano> elapsed = std::chrono::steady_clock::now() - start;
  return elapsed.count() / rounds;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pollmsgr_probe: start the runtime, report lcore placement, time buffer pools"};
  RuntimeOptions options;
  add_runtime_options(app, options);
  int rounds = 1000000;
  app.add_option("--rounds", rounds, "pool get/put rounds per lcore")->check(CLI::PositiveNumber);
  if (int status = parse_flags(app, argc, argv); status >= 0) return status;

  try {
    Runtime runtime(options, "pollmsgr_probe");
    if (options.verbose) {
      std::string args;
      for (auto& a : runtime.eal_args()) args += " " + a;
      fmt::print("EAL:{}\n", args);
    }
    fmt::print("memory: {}\n", runtime.hugepages() ? "hugepages" : "ordinary pages (--no-huge)");
    fmt::print("{}", runtime.placement_report());
    BufferPool pool("probe_4k", 4096, 2048);
    std::mutex out;
    int rc = runtime.run_on_all_lcores([&](unsigned lcore) {
      double ns = ns_per_get_put(pool, rounds);
      std::lock_guard lock(out);  // start-up/report path, not the data path
      fmt::print("lcore {} cpu {} affinity {} pool get+put {:.1f} ns\n", lcore,
                 runtime.cpu_of(lcore), current_affinity(), ns);
      return 0;
    });
    std::fflush(stdout);
    return rc;
  } catch (const StartupError& e) {
    fmt::print(stderr, "pollmsgr_probe: error: {}\n", e.what());
    return e.exit_status();
  }
}
