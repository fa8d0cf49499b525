# Every dependency is a Debian package (tools/install-deps), found the CMake way.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(fmt REQUIRED)
find_package(CLI11 REQUIRED)
find_package(nlohmann_json REQUIRED)
pkg_check_modules(ISAL REQUIRED IMPORTED_TARGET libisal)
pkg_check_modules(HWLOC REQUIRED IMPORTED_TARGET hwloc)
pkg_check_modules(IBVERBS REQUIRED IMPORTED_TARGET libibverbs)
pkg_check_modules(RDMACM REQUIRED IMPORTED_TARGET librdmacm)
if(POLLMSGR_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(POLLMSGR_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()

# DPDK: only the EAL, the mempool and its ring driver. libdpdk.pc lists every DPDK library and
# forces -march=corei7, so take its include directories and link the few libraries we use.
pkg_check_modules(DPDK REQUIRED libdpdk)
add_library(pollmsgr_dpdk INTERFACE)
add_library(pollmsgr::dpdk ALIAS pollmsgr_dpdk)
target_include_directories(pollmsgr_dpdk SYSTEM INTERFACE ${DPDK_INCLUDE_DIRS})
target_compile_options(pollmsgr_dpdk INTERFACE -include rte_config.h)
foreach(lib rte_eal rte_mempool rte_ring rte_kvargs rte_telemetry)
  find_library(DPDK_${lib} NAMES ${lib} REQUIRED)
  target_link_libraries(pollmsgr_dpdk INTERFACE ${DPDK_${lib}})
endforeach()
# The ring mempool driver registers itself from a constructor: link it even though no symbol of
# it is referenced.
find_library(DPDK_rte_mempool_ring NAMES rte_mempool_ring REQUIRED)
target_link_libraries(pollmsgr_dpdk INTERFACE "-Wl,--push-state,--no-as-needed"
                      ${DPDK_rte_mempool_ring} "-Wl,--pop-state")
