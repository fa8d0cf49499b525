#pragma once
#include "dataplane/runtime/runtime.h"

namespace pollmsgr::bench {

// The process's runtime, started by bench_main before any benchmark runs.
extern Runtime* g_runtime;

}  // namespace pollmsgr::bench
