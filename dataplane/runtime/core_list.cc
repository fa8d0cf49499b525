#include "dataplane/runtime/core_list.h"

#include <sched.h>

#include <charconv>
#include <fmt/format.h>

#include "dataplane/runtime/startup_error.h"

namespace pollmsgr {
namespace {

constexpr unsigned kMaxCpu = CPU_SETSIZE;

unsigned parse_cpu(std::string_view text, std::string_view whole) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value >= kMaxCpu)
    throw StartupError(fmt::format("bad core list '{}': '{}' is not a CPU number (0..{})", whole,
                                   text, kMaxCpu - 1));
  return value;
}

}  // namespace

std::set<unsigned> parse_core_list(std::string_view text) {
  std::set<unsigned> cores;
  std::string_view rest = text;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    if (comma != std::string_view::npos && rest.empty())
      throw StartupError(fmt::format("bad core list '{}': trailing ','", text));
    size_t dash = item.find('-');
    unsigned first = parse_cpu(item.substr(0, dash), text);
    unsigned last = dash == std::string_view::npos ? first : parse_cpu(item.substr(dash + 1), text);
    if (last < first)
      throw StartupError(fmt::format("bad core list '{}': range '{}' runs backwards", text, item));
    for (unsigned c = first; c <= last; ++c) cores.insert(c);
  }
  if (cores.empty()) throw StartupError("bad core list: it is empty (example: --lcores 0-1)");
  return cores;
}

std::set<unsigned> parse_core_mask(std::string_view text) {
  std::string_view digits = text;
  if (digits.starts_with("0x") || digits.starts_with("0X")) digits.remove_prefix(2);
  if (digits.empty() || digits.size() > kMaxCpu / 4)
    throw StartupError(fmt::format("bad core mask '{}': expected hex digits, e.g. 0x3", text));
  std::set<unsigned> cores;
  unsigned bit = 0;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it, bit += 4) {
    unsigned nibble = 0;
    auto [end, ec] = std::from_chars(&*it, &*it + 1, nibble, 16);
    if (ec != std::errc())
      throw StartupError(fmt::format("bad core mask '{}': '{}' is not a hex digit", text, *it));
    for (unsigned b = 0; b < 4; ++b)
      if (nibble & (1u << b)) cores.insert(bit + b);
  }
  if (cores.empty()) throw StartupError(fmt::format("bad core mask '{}': selects no core", text));
  return cores;
}

std::set<unsigned> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::set<unsigned> cpus;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (unsigned c = 0; c < kMaxCpu; ++c)
    if (CPU_ISSET(c, &set)) cpus.insert(c);
  return cpus;
}

std::string format_core_list(const std::set<unsigned>& cores) {
  std::string out;
  for (auto it = cores.begin(); it != cores.end();) {
    unsigned first = *it, last = *it;
    for (++it; it != cores.end() && *it == last + 1; ++it) last = *it;
    if (!out.empty()) out += ',';
    out += first == last ? fmt::format("{}", first) : fmt::format("{}-{}", first, last);
  }
  return out;
}

}  // namespace pollmsgr
