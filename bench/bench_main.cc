// Google Benchmark main that starts the pollmsgr runtime first (pools need the EAL). Runtime
// flags come after `--`: pollmsgr_bench [benchmark flags] -- [--no-huge] [--lcores 0-1] ...
#include <benchmark/benchmark.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstring>
#include <fmt/format.h>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_runtime.h"
#include "dataplane/runtime/startup_error.h"

namespace pollmsgr::bench {

Runtime* g_runtime = nullptr;

}  // namespace pollmsgr::bench

int main(int argc, char** argv) {
  int split = argc;
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--") == 0) split = i;
  pollmsgr::RuntimeOptions options;
  CLI::App app{"runtime flags for pollmsgr_bench"};
  pollmsgr::add_runtime_options(app, options);
  std::vector<std::string> runtime_args(argv + std::min(split + 1, argc), argv + argc);
  std::reverse(runtime_args.begin(), runtime_args.end());  // CLI11 takes them last-first
  try {
    app.parse(runtime_args);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (options.lcores.empty() && options.coremask.empty()) options.lcores = "0-1";
  std::unique_ptr<pollmsgr::Runtime> runtime;
  try {
    runtime = std::make_unique<pollmsgr::Runtime>(options, "pollmsgr_bench");
  } catch (const pollmsgr::StartupError& e) {
    fmt::print(stderr, "pollmsgr_bench: error: {}\n", e.what());
    return e.exit_status();
  }
  pollmsgr::bench::g_runtime = runtime.get();
  int bench_argc = split;
  benchmark::Initialize(&bench_argc, argv);
  if (benchmark::ReportUnrecognizedArguments(bench_argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
