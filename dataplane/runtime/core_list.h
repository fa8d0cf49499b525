#pragma once
#include <set>
#include <string>
#include <string_view>

namespace pollmsgr {

// CPU sets as users write them: a list "0-2,5" (EAL -l) or a hex mask "0x3" (EAL -c).
// Pure functions: any thread.
// Both throw StartupError naming the bad part.
std::set<unsigned> parse_core_list(std::string_view text);
std::set<unsigned> parse_core_mask(std::string_view text);

// The CPUs this process may run on (sched_getaffinity).
std::set<unsigned> allowed_cpus();

std::string format_core_list(const std::set<unsigned>& cores);

}  // namespace pollmsgr
