#pragma once
// Time on the data path is the TSC (rte_rdtsc: no syscall); these convert durations to and from
// its cycles. Any thread, after the runtime has started (the EAL measures the TSC's rate).
#include <rte_cycles.h>

#include <cstdint>

namespace pollmsgr {

inline uint64_t us_to_tsc(double us) { return static_cast<uint64_t>(us * double(rte_get_tsc_hz()) / 1e6); }
inline uint64_t ms_to_tsc(double ms) { return us_to_tsc(ms * 1000); }
inline uint64_t seconds_to_tsc(double s) { return us_to_tsc(s * 1e6); }
inline double tsc_to_us(uint64_t cycles) { return double(cycles) * 1e6 / double(rte_get_tsc_hz()); }
inline double tsc_to_seconds(uint64_t cycles) { return double(cycles) / double(rte_get_tsc_hz()); }

}  // namespace pollmsgr
