// osdmap_dump: reads a full OSDMap (`ceph osd getmap -o FILE`), applies incrementals to it if
// given, and prints where PGs and objects go, in osdmaptool's own formats so that the two can
// be compared line for line (tests/rados/check-osdmap):
//   osdmap_dump FULL [--apply INC]... --pool ID            like --test-map-pgs-dump-all
//   osdmap_dump FULL [--apply INC]... --pool ID --object NAME...   like --test-map-object
//   osdmap_dump --crush CRUSH_MAP --rule N --num-rep R [--max-x X] [--weight OSD W]...
//                                                           like crushtool --test --show-mappings
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "rados/osdmap.h"

namespace {

using pollmsgr::rados::OsdMap;

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "osdmap_dump: cannot read %s\n", path.c_str());
    std::exit(1);
  }
  return {std::istreambuf_iterator<char>(in), {}};
}

std::string list(const std::vector<int32_t>& osds) {
  std::string s = "[";
  for (size_t i = 0; i < osds.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(osds[i]);
  }
  return s + "]";
}

int usage() {
  std::fprintf(stderr,
               "usage: osdmap_dump FULL_MAP [--apply INCREMENTAL]... --pool ID [--object NAME]...\n"
               "       osdmap_dump --crush CRUSH_MAP --rule N --num-rep R [--max-x X] [--weight OSD W]...\n");
  return 2;
}

// crushtool's --show-mappings for x in [0, max_x], every OSD in unless --weight says otherwise.
int crush_mappings(int argc, char** argv) {
  std::string error;
  const std::vector<uint8_t> bytes = read_file(argv[2]);
  pollmsgr::proto::WireReader r(bytes);
  pollmsgr::rados::CrushMap crush;
  if (!pollmsgr::rados::decode_crush(r, crush, error)) {
    std::fprintf(stderr, "osdmap_dump: %s: %s\n", argv[2], error.c_str());
    return 1;
  }
  int rule = 0, num_rep = 0;
  long max_x = 1023;
  std::vector<uint32_t> weight(crush.max_devices, 0x10000);
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string arg = argv[i];
    if (arg == "--rule") {
      rule = std::atoi(argv[i + 1]);
    } else if (arg == "--num-rep") {
      num_rep = std::atoi(argv[i + 1]);
    } else if (arg == "--max-x") {
      max_x = std::atol(argv[i + 1]);
    } else if (arg == "--weight" && i + 2 < argc) {
      const int osd = std::atoi(argv[i + 1]);
      if (osd >= 0 && size_t(osd) < weight.size()) weight[osd] = uint32_t(std::atof(argv[i + 2]) * 0x10000);
      ++i;
    } else {
      return usage();
    }
  }
  if (num_rep <= 0) return usage();
  std::vector<int32_t> out(num_rep);
  for (long x = 0; x <= max_x; ++x) {
    const size_t n = crush.do_rule(rule, uint32_t(x), out, weight, nullptr);
    std::printf("CRUSH rule %d x %ld %s\n", rule, x,
                list(std::vector<int32_t>(out.begin(), out.begin() + n)).c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  if (std::string(argv[1]) == "--crush") return argc < 3 ? usage() : crush_mappings(argc, argv);
  std::string error;
  OsdMap map;
  if (!pollmsgr::rados::decode_osdmap(read_file(argv[1]), map, error)) {
    std::fprintf(stderr, "osdmap_dump: %s: %s\n", argv[1], error.c_str());
    return 1;
  }
  long long pool = -1;
  std::vector<std::string> objects;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) return usage();
    const char* value = argv[++i];
    if (arg == "--apply") {
      if (!pollmsgr::rados::apply_incremental(read_file(value), map, error)) {
        std::fprintf(stderr, "osdmap_dump: %s: %s\n", value, error.c_str());
        return 1;
      }
    } else if (arg == "--pool") {
      pool = std::atoll(value);
    } else if (arg == "--object") {
      objects.push_back(value);
    } else {
      return usage();
    }
  }
  const auto* p = map.pool(pool);
  if (!p) {
    std::fprintf(stderr, "osdmap_dump: epoch %u has no pool %lld\n", map.epoch, pool);
    return 1;
  }
  if (!objects.empty()) {
    for (const auto& name : objects) {
      const auto pg = map.object_pg(pool, name);
      if (!pg) return 1;
      std::printf(" object '%s' -> %s -> %s\n", name.c_str(), pg->to_string().c_str(),
                  list(map.map_pg(*pg).acting).c_str());
    }
    return 0;
  }
  std::printf("pool %lld pg_num %u\n", pool, p->pg_num);
  for (uint32_t ps = 0; ps < p->pg_num; ++ps) {
    const pollmsgr::rados::PgId pg{pool, ps};
    const auto m = map.map_pg(pg);
    std::printf("%s raw (%s, p%d) up (%s, p%d) acting (%s, p%d)\n", pg.to_string().c_str(),
                list(m.raw).c_str(), m.raw_primary, list(m.up).c_str(), m.up_primary,
                list(m.acting).c_str(), m.acting_primary);
  }
  return 0;
}
