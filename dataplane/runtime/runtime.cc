#include "dataplane/runtime/runtime.h"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <fmt/format.h>

#include "dataplane/runtime/core_list.h"
#include "dataplane/runtime/startup_error.h"

namespace pollmsgr {
namespace {

std::atomic<bool> eal_started{false};

unsigned long long read_number(const std::filesystem::path& path) {
  std::ifstream in(path);
  unsigned long long value = 0;
  in >> value;
  return value;
}

}  // namespace

unsigned long long free_hugepage_bytes() {
  unsigned long long total = 0;
  std::error_code ec;
  for (const auto& dir : std::filesystem::directory_iterator("/sys/kernel/mm/hugepages", ec)) {
    // Directory names look like "hugepages-2048kB".
    std::string name = dir.path().filename().string();
    unsigned long long kb = std::strtoull(name.c_str() + name.find('-') + 1, nullptr, 10);
    total += read_number(dir.path() / "free_hugepages") * kb * 1024;
  }
  return total;
}

unsigned long long available_memory_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  unsigned long long kb = 0;
  while (meminfo >> key >> kb) {
    if (key == "MemAvailable:") return kb * 1024;
    meminfo.ignore(64, '\n');
  }
  return ~0ull;  // not known: no check
}

std::vector<std::string> build_eal_args(const RuntimeOptions& o, const char* program_name,
                                        unsigned long long free_bytes) {
  std::set<unsigned> cores;
  std::string core_arg;
  if (!o.coremask.empty()) {
    cores = parse_core_mask(o.coremask);
  } else {
    cores = parse_core_list(o.lcores.empty() ? "0" : o.lcores);
  }
  const std::set<unsigned> allowed = allowed_cpus();
  for (unsigned c : cores)
    if (!allowed.contains(c))
      throw StartupError(fmt::format(
          "lcore {} does not exist here: this process may run on CPUs {} (sched_getaffinity); "
          "choose cores from that list",
          c, format_core_list(allowed)));
  if (o.main_lcore && !cores.contains(*o.main_lcore))
    throw StartupError(fmt::format("--main-lcore {} is not one of the selected lcores ({})",
                                   *o.main_lcore, format_core_list(cores)));

  const unsigned mem = o.effective_mem_mb();
  std::vector<std::string> args = {program_name, "-l", format_core_list(cores), "--no-pci",
                                   "--no-telemetry"};
  if (o.main_lcore) args.insert(args.end(), {"--main-lcore", std::to_string(*o.main_lcore)});
  if (o.no_huge) {
    if (static_cast<unsigned long long>(mem) << 20 > free_bytes)
      throw StartupError(fmt::format(
          "too little memory: --mem {} MiB asked for with --no-huge, {} MiB available "
          "(MemAvailable). Fix: pass a smaller --mem", mem, free_bytes >> 20));
    // EAL refuses --no-huge together with --in-memory; --no-shconf keeps processes apart.
    args.insert(args.end(), {"--no-huge", "--no-shconf", "-m", std::to_string(mem)});
  } else {
    if (free_bytes == 0)
      throw StartupError(
          "no free hugepages on this host. Fix: run `tools/setup-hugepages` (as root) to reserve "
          "them, or pass --no-huge to run on ordinary pages");
    if (static_cast<unsigned long long>(mem) << 20 > free_bytes)
      throw StartupError(fmt::format(
          "too little hugepage memory: --mem {} MiB asked for, {} MiB free. Fix: pass a smaller "
          "--mem, reserve more with `tools/setup-hugepages N`, or pass --no-huge",
          mem, free_bytes >> 20));
    // --in-memory: several processes share the host and nothing is left behind after kill -9.
    // -m with --single-file-segments takes the memory up front as one contiguous range.
    args.insert(args.end(), {"--in-memory", "--iova-mode=va", "-m", std::to_string(mem),
                             "--single-file-segments"});
  }
  args.push_back(o.verbose ? "--log-level=*:info" : "--log-level=*:crit");
  return args;
}

Runtime::Runtime(const RuntimeOptions& options, const char* program_name)
    : options_(options),
      eal_args_(build_eal_args(options, program_name,
                               options.no_huge ? available_memory_bytes() : free_hugepage_bytes())) {
  if (eal_started.exchange(true))
    throw StartupError("the DPDK EAL can start only once per process", 1);
  std::vector<char*> argv;
  for (auto& a : eal_args_) argv.push_back(a.data());
  argv.push_back(nullptr);
  if (rte_eal_init(static_cast<int>(argv.size() - 1), argv.data()) < 0) {
    std::string args;
    for (auto& a : eal_args_) args += " " + a;
    throw StartupError(fmt::format(
        "DPDK EAL failed to start ({}). Tried:{}. Run again with --verbose for EAL's own log",
        rte_strerror(rte_errno), args), 1);
  }
}

Runtime::~Runtime() { rte_eal_cleanup(); }

unsigned Runtime::main_lcore() const { return rte_get_main_lcore(); }

std::vector<unsigned> Runtime::lcores() const {
  std::vector<unsigned> ids = {rte_get_main_lcore()};
  unsigned id;
  RTE_LCORE_FOREACH_WORKER(id) ids.push_back(id);
  return ids;
}

unsigned Runtime::cpu_of(unsigned lcore) const { return rte_lcore_to_cpu_id(static_cast<int>(lcore)); }

int Runtime::run_on_all_lcores(const std::function<int(unsigned lcore)>& fn) {
  // What the workers did happens before the return, through `finished` (an atomic of ours: the
  // EAL's own wait is invisible to ThreadSanitizer, whose reports would otherwise be noise).
  struct Launch {
    const std::function<int(unsigned)>& fn;
    std::atomic<unsigned> finished{0};
  } launch{fn};
  auto trampoline = [](void* arg) -> int {
    auto& l = *static_cast<Launch*>(arg);
    const int r = l.fn(rte_lcore_id());
    l.finished.fetch_add(1, std::memory_order_release);
    return r;
  };
  unsigned id;
  RTE_LCORE_FOREACH_WORKER(id) {
    if (rte_eal_remote_launch(trampoline, &launch, id) != 0)
      throw StartupError(fmt::format("lcore {} is busy: cannot launch on it", id), 1);
  }
  int result = fn(rte_lcore_id());
  RTE_LCORE_FOREACH_WORKER(id) {
    int r = rte_eal_wait_lcore(id);
    if (result == 0) result = r;
  }
  [[maybe_unused]] const unsigned finished = launch.finished.load(std::memory_order_acquire);
  return result;
}

}  // namespace pollmsgr
