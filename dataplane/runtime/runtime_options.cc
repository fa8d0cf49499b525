#include "dataplane/runtime/runtime_options.h"

#include <CLI/CLI.hpp>

namespace pollmsgr {

void add_runtime_options(CLI::App& app, RuntimeOptions& options) {
  auto* lcores = app.add_option("--lcores,-l", options.lcores,
                                "CPU cores to run on, as a list: 0-1 or 0,2 (EAL -l)");
  auto* mask = app.add_option("--coremask,-c", options.coremask,
                              "CPU cores to run on, as a hex mask: 0x3 (EAL -c)");
  lcores->excludes(mask);
  app.add_option("--main-lcore", options.main_lcore,
                 "the lcore that runs main (default: the lowest selected)");
  app.add_option("--mem", options.mem_mb,
                 "hugepage memory to take up front, MiB (default 256)")
      ->check(CLI::Range(16u, 1u << 20));
  app.add_flag("--no-huge", options.no_huge, "run on ordinary pages (no hugepages needed; slower)");
  app.add_flag("--verbose", options.verbose, "show DPDK EAL logging");
}

int parse_flags(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int status = app.exit(e);
    return status == 0 ? 0 : 2;
  }
  return -1;
}

}  // namespace pollmsgr
