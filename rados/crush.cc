#include "rados/crush.h"

#include <algorithm>
#include <bit>
#include <limits>
#include <utility>

#include "proto/object_hash.h"

namespace pollmsgr::rados {
namespace {

using proto::jenkins_mix;
using proto::WireReader;

constexpr uint32_t kHashSeed = 1315423911;
constexpr int32_t kItemUndef = 0x7ffffffe;  // not chosen yet (indep)
constexpr uint32_t kWeightIn = 0x10000;
constexpr int64_t kMaxTries = 1000;  // real maps: 50, and 100 in erasure-coded rules

void decode_names(WireReader& r, std::map<int32_t, std::string>& names) {
  for (uint32_t i = 0, n = r.count(8); i < n && r.ok(); ++i) {
    const int32_t key = r.s32();
    names[key] = std::string(r.string());
  }
}

bool decode_bucket(WireReader& r, CrushBucket& b) {
  b.id = r.s32();
  b.type = r.u16();
  b.alg = r.u8();
  b.hash = r.u8();
  b.weight = r.u32();
  const uint32_t size = r.count(4);
  b.items.resize(size);
  for (auto& item : b.items) item = r.s32();
  auto weights = [&](std::vector<uint32_t>* second) {
    if (size > r.remaining() / (second ? 8 : 4)) return r.fail();
    b.item_weights.resize(size);
    if (second) second->resize(size);
    for (uint32_t i = 0; i < size; ++i) {
      b.item_weights[i] = r.u32();
      if (second) (*second)[i] = r.u32();
    }
  };
  switch (b.alg) {
    case CrushBucket::kUniform: b.item_weights.assign(1, r.u32()); break;
    case CrushBucket::kList: weights(&b.aux); break;
    case CrushBucket::kTree: {
      b.aux.resize(r.u8());
      for (auto& w : b.aux) w = r.u32();
      break;
    }
    case CrushBucket::kStraw: weights(&b.aux); break;
    case CrushBucket::kStraw2: weights(nullptr); break;
    default: return false;
  }
  return true;
}

}  // namespace

bool decode_crush(WireReader& r, CrushMap& m, std::string& error) {
  m = CrushMap{};
  auto bad = [&](std::string why) {
    error = "CRUSH map: " + why;
    r.fail();
    return false;
  };
  if (const uint32_t magic = r.u32(); magic != 0x00010000)
    return bad("it starts with " + std::to_string(magic) + ", not CRUSH's magic 65536");
  const int32_t max_buckets = r.s32();
  const uint32_t max_rules = r.u32();
  m.max_devices = r.s32();
  if (!r.ok() || max_buckets < 0 || uint64_t(max_buckets) > r.remaining() / 4 ||
      max_rules > r.remaining() / 4 || m.max_devices < 0)
    return bad("bucket, rule or device counts do not fit its bytes");
  m.buckets.resize(max_buckets);
  for (int32_t i = 0; i < max_buckets && r.ok(); ++i) {
    if (r.u32() == 0) continue;  // an empty slot
    CrushBucket b;
    if (!decode_bucket(r, b)) return bad("bucket " + std::to_string(-1 - i) + " has an unknown algorithm");
    if (b.id != -1 - i) return bad("bucket in slot " + std::to_string(i) + " says its id is " + std::to_string(b.id));
    m.buckets[i] = std::move(b);
  }
  m.rules.resize(max_rules);
  for (uint32_t i = 0; i < max_rules && r.ok(); ++i) {
    if (r.u32() == 0) continue;
    CrushRule rule;
    const uint32_t len = r.count(4 + 12);
    rule.ruleset = r.u8();
    rule.type = r.u8();
    rule.min_size = r.u8();
    rule.max_size = r.u8();
    rule.steps.resize(len);
    for (auto& s : rule.steps) s = {r.u32(), r.s32(), r.s32()};
    m.rules[i] = std::move(rule);
  }
  decode_names(r, m.type_names);
  decode_names(r, m.item_names);
  decode_names(r, m.rule_names);
  if (r.ok() && r.remaining()) {  // tunables, from argonaut on
    m.choose_local_tries = r.u32();
    m.choose_local_fallback_tries = r.u32();
    m.choose_total_tries = r.u32();
  }
  if (r.ok() && r.remaining()) m.chooseleaf_descend_once = r.u32();
  if (r.ok() && r.remaining()) m.chooseleaf_vary_r = r.u8();
  if (r.ok() && r.remaining()) m.straw_calc_version = r.u8();
  if (r.ok() && r.remaining()) r.u32();  // allowed_bucket_algs: only what the mon may create
  if (r.ok() && r.remaining()) m.chooseleaf_stable = r.u8();
  if (r.ok() && r.remaining()) {  // device classes: already compiled into shadow buckets
    for (uint32_t i = 0, n = r.count(8); i < n && r.ok(); ++i) r.bytes(8);
    std::map<int32_t, std::string> class_names;
    decode_names(r, class_names);
    for (uint32_t i = 0, n = r.count(8); i < n && r.ok(); ++i) {
      r.s32();
      const uint32_t classes = r.count(8);
      r.bytes(size_t{classes} * 8);
    }
  }
  if (r.ok() && r.remaining()) {  // weight sets
    for (uint32_t i = 0, n = r.count(12); i < n && r.ok(); ++i) {
      auto& args = m.choose_args[r.s64()];
      args.resize(m.buckets.size());
      for (uint32_t j = 0, buckets = r.count(12); j < buckets && r.ok(); ++j) {
        const uint32_t index = r.u32();
        if (r.ok() && index >= args.size()) return bad("a weight set names bucket slot " + std::to_string(index));
        CrushChooseArg& arg = args[index];
        arg.weight_set.resize(r.count(4));
        for (auto& ws : arg.weight_set) {
          ws.resize(r.count(4));
          for (auto& w : ws) w = r.u32();
        }
        arg.ids.resize(r.count(4));
        for (auto& id : arg.ids) id = r.s32();
        const size_t size = m.buckets[index] ? m.buckets[index]->items.size() : 0;
        bool fits = arg.ids.empty() || arg.ids.size() == size;
        for (auto& ws : arg.weight_set) fits = fits && ws.size() == size;
        if (r.ok() && !fits) return bad("a weight set for bucket " + std::to_string(-1 - int64_t(index)) + " does not match its items");
      }
    }
  }
  if (!r.ok()) return bad("it ends before its last field");
  // What Ceph has not created since firefly is refused rather than placed differently.
  if (m.choose_local_fallback_tries)
    return bad("legacy tunables (choose_local_fallback_tries " + std::to_string(m.choose_local_fallback_tries) +
               ") are not supported: `ceph osd crush tunables optimal` moves the map on");
  for (const auto& b : m.buckets)
    if (b && (b->alg == CrushBucket::kUniform || b->alg == CrushBucket::kTree))
      return bad("bucket " + std::to_string(b->id) + " uses the " + (b->alg == CrushBucket::kTree ? "tree" : "uniform") +
                 " algorithm, which is not supported (straw2, straw and list are)");
  // Bounds no real map comes near, so that a hostile one cannot keep an lcore mapping for ever.
  auto too_many = [](int64_t tries) { return tries > kMaxTries; };
  if (too_many(m.choose_total_tries) || too_many(m.choose_local_tries) || m.chooseleaf_vary_r > 31)
    return bad("its tunables ask for " + std::to_string(m.choose_total_tries) + " tries, " +
               std::to_string(m.choose_local_tries) + " local tries, vary_r " +
               std::to_string(m.chooseleaf_vary_r) + "; at most " + std::to_string(kMaxTries) +
               " tries and vary_r 31 are placed");
  for (const auto& rule : m.rules)
    for (const auto& step : rule ? rule->steps : std::vector<CrushRule::Step>{}) {
      if (step.op == CrushRule::kSetChooseLocalFallbackTries && step.arg1 > 0)
        return bad("a rule sets choose_local_fallback_tries, a legacy tunable that is not supported");
      const bool tries = step.op == CrushRule::kSetChooseTries ||
                         step.op == CrushRule::kSetChooseleafTries ||
                         step.op == CrushRule::kSetChooseLocalTries;
      const bool choose = step.op == CrushRule::kChooseFirstn || step.op == CrushRule::kChooseIndep ||
                          step.op == CrushRule::kChooseleafFirstn || step.op == CrushRule::kChooseleafIndep;
      if ((tries && too_many(step.arg1)) || (choose && step.arg1 > 256) ||  // a pool's size is a u8
          (step.op == CrushRule::kSetChooseleafVaryR && step.arg1 > 31))
        return bad("a rule step (op " + std::to_string(step.op) + ") sets " + std::to_string(step.arg1) +
                   ", past what is placed");
    }
  return true;
}

uint32_t crush_hash32_2(uint32_t a, uint32_t b) {
  uint32_t h = kHashSeed ^ a ^ b, x = 231232, y = 1232;
  jenkins_mix(a, b, h);
  jenkins_mix(x, a, h);
  jenkins_mix(b, y, h);
  return h;
}

uint32_t crush_hash32_3(uint32_t a, uint32_t b, uint32_t c) {
  uint32_t h = kHashSeed ^ a ^ b ^ c, x = 231232, y = 1232;
  jenkins_mix(a, b, h);
  jenkins_mix(c, x, h);
  jenkins_mix(y, a, h);
  jenkins_mix(b, x, h);
  jenkins_mix(y, c, h);
  return h;
}

uint32_t crush_hash32_4(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  uint32_t h = kHashSeed ^ a ^ b ^ c ^ d, x = 231232, y = 1232;
  jenkins_mix(a, b, h);
  jenkins_mix(c, d, h);
  jenkins_mix(a, x, h);
  jenkins_mix(y, b, h);
  jenkins_mix(c, x, h);
  jenkins_mix(y, d, h);
  return h;
}

uint64_t crush_ln(uint32_t xin) {
  uint32_t x = xin + 1;
  int64_t exponent = 15;
  if (!(x & 0x18000)) {  // normalize the mantissa to 17 bits
    const int bits = std::countl_zero(x & 0x1ffff) - 16;
    x <<= bits;
    exponent = 15 - bits;
  }
  const uint32_t index1 = (x >> 8) << 1;
  const int64_t rh = crush_tables::kRhLh[index1 - 256];
  int64_t lh = crush_tables::kRhLh[index1 + 1 - 256];
  const uint64_t xl64 = (uint64_t{x} * uint64_t(rh)) >> 48;  // wraps, as Ceph's s64 product does
  lh += crush_tables::kLl[xl64 & 0xff];
  return (uint64_t(exponent) << 44) + uint64_t(lh >> 4);
}

namespace {

// One crush_do_rule: the map, the input and the OSD weights it runs with.
class RuleRun {
 public:
  RuleRun(const CrushMap& m, uint32_t x, std::span<const uint32_t> weight,
          const std::vector<CrushChooseArg>* args)
      : m_(m), x_(x), weight_(weight), args_(args) {}

  size_t run(const CrushRule& rule, std::span<int32_t> result);

 private:
  int32_t bucket_choose(const CrushBucket& b, uint32_t r, int position) const;
  bool is_out(int32_t osd) const;
  int choose_firstn(const CrushBucket& bucket, int numrep, int type, int32_t* out, int outpos,
                    int out_size, unsigned tries, unsigned recurse_tries, unsigned local_retries,
                    int recurse_to_leaf, unsigned vary_r, unsigned stable, int32_t* out2,
                    int parent_r) const;
  void choose_indep(const CrushBucket& bucket, int left, int numrep, int type, int32_t* out,
                    int outpos, unsigned tries, unsigned recurse_tries, bool recurse_to_leaf,
                    int32_t* out2, int parent_r) const;
  // The bucket an item names, or null for a device, a hole or a missing slot.
  const CrushBucket* bucket_of(int32_t item) const { return m_.bucket(item); }
  int type_of(int32_t item) const {
    const CrushBucket* b = bucket_of(item);
    return b ? b->type : 0;
  }

  const CrushMap& m_;
  const uint32_t x_;
  const std::span<const uint32_t> weight_;
  const std::vector<CrushChooseArg>* args_;
};

int32_t RuleRun::bucket_choose(const CrushBucket& b, uint32_t r, int position) const {
  const size_t n = b.items.size();
  switch (b.alg) {
    case CrushBucket::kStraw2: {
      const std::vector<uint32_t>* weights = &b.item_weights;
      const std::vector<int32_t>* ids = &b.items;
      if (args_) {
        const CrushChooseArg& arg = (*args_)[-1 - b.id];
        if (!arg.weight_set.empty())
          weights = &arg.weight_set[std::min<size_t>(position, arg.weight_set.size() - 1)];
        if (!arg.ids.empty()) ids = &arg.ids;
      }
      size_t high = 0;
      int64_t high_draw = 0;
      for (size_t i = 0; i < n; ++i) {
        int64_t draw = std::numeric_limits<int64_t>::min();
        if (const uint32_t w = (*weights)[i]) {
          const uint32_t u = crush_hash32_3(x_, uint32_t((*ids)[i]), r) & 0xffff;
          // ln(u) - ln(0x10000) <= 0: the heaviest item's draw is the least negative.
          draw = (int64_t(crush_ln(u)) - 0x1000000000000ll) / int64_t{w};
        }
        if (i == 0 || draw > high_draw) {
          high = i;
          high_draw = draw;
        }
      }
      return b.items[high];
    }
    case CrushBucket::kStraw: {
      size_t high = 0;
      uint64_t high_draw = 0;
      for (size_t i = 0; i < n; ++i) {
        const uint64_t draw = uint64_t(crush_hash32_3(x_, uint32_t(b.items[i]), r) & 0xffff) * b.aux[i];
        if (i == 0 || draw > high_draw) {
          high = i;
          high_draw = draw;
        }
      }
      return b.items[high];
    }
    case CrushBucket::kList:
      for (size_t i = n; i-- > 0;) {
        uint64_t w = crush_hash32_4(x_, uint32_t(b.items[i]), r, uint32_t(b.id)) & 0xffff;
        w = (w * b.aux[i]) >> 16;
        if (w < b.item_weights[i]) return b.items[i];
      }
      return b.items[0];
    default:  // uniform and tree buckets: Ceph has created neither since luminous
      return kCrushItemNone;
  }
}

bool RuleRun::is_out(int32_t osd) const {
  if (osd < 0 || size_t(osd) >= weight_.size()) return true;
  const uint32_t w = weight_[osd];
  if (w >= kWeightIn) return false;
  if (w == 0) return true;
  return (crush_hash32_2(x_, uint32_t(osd)) & 0xffff) >= w;  // reweighted: in for a share of x
}

// Ceph's crush_choose_firstn: replicas in order; a failed choice is retried from the top with
// r moved on, and a rep that runs out of tries is left out (the rest shift up).
int RuleRun::choose_firstn(const CrushBucket& bucket, int numrep, int type, int32_t* out,
                           int outpos, int out_size, unsigned tries, unsigned recurse_tries,
                           unsigned local_retries, int recurse_to_leaf, unsigned vary_r,
                           unsigned stable, int32_t* out2, int parent_r) const {
  int count = out_size;
  for (int rep = stable ? 0 : outpos; rep < numrep && count > 0; ++rep) {
    unsigned ftotal = 0;
    bool skip_rep = false, retry_descent;
    int32_t item = 0;
    do {
      retry_descent = false;
      const CrushBucket* in = &bucket;
      unsigned flocal = 0;
      size_t descents = 0;  // a map whose buckets form a cycle must not loop for ever
      bool retry_bucket;
      do {
        retry_bucket = false;
        bool collide = false, reject = false;
        const int r = rep + parent_r + int(ftotal);
        if (in->items.empty()) {
          reject = true;
        } else {
          item = bucket_choose(*in, uint32_t(r), outpos);
          if (item >= m_.max_devices) {
            skip_rep = true;
            break;
          }
          const int item_type = type_of(item);
          if (item_type != type) {
            const CrushBucket* next = bucket_of(item);
            if (!next || ++descents > m_.buckets.size()) {
              skip_rep = true;
              break;
            }
            in = next;
            retry_bucket = true;
            continue;
          }
          collide = std::find(out, out + outpos, item) != out + outpos;
          if (!collide && recurse_to_leaf) {
            if (item < 0) {
              const int sub_r = vary_r ? r >> (vary_r - 1) : 0;
              if (choose_firstn(*bucket_of(item), stable ? 1 : outpos + 1, 0, out2, outpos, count,
                                recurse_tries, 0, local_retries, 0, vary_r, stable, nullptr,
                                sub_r) <= outpos)
                reject = true;  // no leaf under it
            } else {
              out2[outpos] = item;
            }
          }
          if (!reject && !collide && item_type == 0) reject = is_out(item);
        }
        if (reject || collide) {
          ++ftotal;
          ++flocal;
          if (collide && flocal <= local_retries)
            retry_bucket = true;  // the same bucket again
          else if (ftotal < tries)
            retry_descent = true;  // from the top
          else
            skip_rep = true;
        }
      } while (retry_bucket);
    } while (retry_descent);
    if (skip_rep) continue;
    out[outpos++] = item;
    --count;
  }
  return outpos;
}

// Ceph's crush_choose_indep: positional (erasure-coded pools); a position that cannot be filled
// holds kCrushItemNone and the others keep their places.
void RuleRun::choose_indep(const CrushBucket& bucket, int left, int numrep, int type,
                           int32_t* out, int outpos, unsigned tries, unsigned recurse_tries,
                           bool recurse_to_leaf, int32_t* out2, int parent_r) const {
  const int endpos = outpos + left;
  for (int rep = outpos; rep < endpos; ++rep) {
    out[rep] = kItemUndef;
    if (out2) out2[rep] = kItemUndef;
  }
  for (unsigned ftotal = 0; left > 0 && ftotal < tries; ++ftotal) {
    for (int rep = outpos; rep < endpos; ++rep) {
      if (out[rep] != kItemUndef) continue;
      const CrushBucket* in = &bucket;
      auto none = [&] {
        out[rep] = kCrushItemNone;
        if (out2) out2[rep] = kCrushItemNone;
        --left;
      };
      for (size_t descents = 0;; ++descents) {
        // Unsigned: a rule may ask for any numrep, and Ceph's int arithmetic wraps on x86.
        const uint32_t r = uint32_t(rep) + uint32_t(parent_r) + uint32_t(numrep) * ftotal;
        if (in->items.empty()) break;
        const int32_t item = bucket_choose(*in, r, outpos);
        if (item >= m_.max_devices) {
          none();
          break;
        }
        const int item_type = type_of(item);
        if (item_type != type) {
          const CrushBucket* next = bucket_of(item);
          if (!next || descents >= m_.buckets.size()) {
            none();
            break;
          }
          in = next;
          continue;
        }
        if (std::find(out + outpos, out + endpos, item) != out + endpos) break;  // collision
        if (recurse_to_leaf) {
          if (item < 0) {
            choose_indep(*bucket_of(item), 1, numrep, 0, out2, rep, recurse_tries, 0, false,
                         nullptr, int(r));
            if (out2[rep] == kCrushItemNone) break;  // no leaf under it
          } else {
            out2[rep] = item;
          }
        }
        if (item_type == 0 && is_out(item)) break;
        out[rep] = item;
        --left;
        break;
      }
    }
  }
  for (int rep = outpos; rep < endpos; ++rep) {
    if (out[rep] == kItemUndef) out[rep] = kCrushItemNone;
    if (out2 && out2[rep] == kItemUndef) out2[rep] = kCrushItemNone;
  }
}

size_t RuleRun::run(const CrushRule& rule, std::span<int32_t> result) {
  const int result_max = int(result.size());
  // Three scratch vectors: the working set, the output, and the leaves under the output.
  std::vector<int32_t> scratch(3 * result.size() + 3);
  int32_t* w = scratch.data();
  int32_t* o = w + result_max + 1;
  int32_t* c = o + result_max + 1;
  int wsize = 0;
  size_t result_len = 0;
  unsigned choose_tries = m_.choose_total_tries + 1;  // Ceph counts the first try too
  unsigned choose_leaf_tries = 0;
  unsigned local_retries = m_.choose_local_tries;
  unsigned vary_r = m_.chooseleaf_vary_r, stable = m_.chooseleaf_stable;
  for (const CrushRule::Step& step : rule.steps) {
    bool firstn = false;
    switch (step.op) {
      case CrushRule::kTake:
        if ((step.arg1 >= 0 && step.arg1 < m_.max_devices) || bucket_of(step.arg1)) {
          w[0] = step.arg1;
          wsize = 1;
        }
        break;
      case CrushRule::kSetChooseTries:
        if (step.arg1 > 0) choose_tries = unsigned(step.arg1);
        break;
      case CrushRule::kSetChooseleafTries:
        if (step.arg1 > 0) choose_leaf_tries = unsigned(step.arg1);
        break;
      case CrushRule::kSetChooseLocalTries:
        if (step.arg1 >= 0) local_retries = unsigned(step.arg1);
        break;
      case CrushRule::kSetChooseLocalFallbackTries:
        break;  // only for legacy maps, which decode_crush's caller refuses
      case CrushRule::kSetChooseleafVaryR:
        if (step.arg1 >= 0) vary_r = unsigned(step.arg1);
        break;
      case CrushRule::kSetChooseleafStable:
        if (step.arg1 >= 0) stable = unsigned(step.arg1);
        break;
      case CrushRule::kChooseFirstn:
      case CrushRule::kChooseleafFirstn:
        firstn = true;
        [[fallthrough]];
      case CrushRule::kChooseIndep:
      case CrushRule::kChooseleafIndep: {
        if (wsize == 0) break;
        const bool to_leaf =
            step.op == CrushRule::kChooseleafFirstn || step.op == CrushRule::kChooseleafIndep;
        int osize = 0;
        for (int i = 0; i < wsize; ++i) {
          int numrep = step.arg1;
          if (numrep <= 0) {
            numrep += result_max;
            if (numrep <= 0) continue;
          }
          const CrushBucket* b = bucket_of(w[i]);
          if (!b) continue;  // a device: nothing to choose from
          if (firstn) {
            const unsigned recurse_tries = choose_leaf_tries ? choose_leaf_tries
                                           : m_.chooseleaf_descend_once ? 1
                                                                        : choose_tries;
            osize = choose_firstn(*b, numrep, step.arg2, o + osize, 0, result_max - osize,
                                  choose_tries, recurse_tries, local_retries, to_leaf, vary_r,
                                  stable, c + osize, 0) + osize;
          } else {
            const int out_size = std::min(numrep, result_max - osize);
            choose_indep(*b, out_size, numrep, step.arg2, o + osize, 0, choose_tries,
                         choose_leaf_tries ? choose_leaf_tries : 1, to_leaf, c + osize, 0);
            osize += out_size;
          }
        }
        if (to_leaf) std::copy(c, c + osize, o);
        std::swap(o, w);
        wsize = osize;
        break;
      }
      case CrushRule::kEmit:
        for (int i = 0; i < wsize && result_len < result.size(); ++i) result[result_len++] = w[i];
        wsize = 0;
        break;
      default:
        break;
    }
  }
  return result_len;
}

}  // namespace

int CrushMap::find_rule(int ruleset, int type, int size) const {
  for (size_t i = 0; i < rules.size(); ++i) {
    const auto& r = rules[i];
    if (r && r->ruleset == ruleset && r->type == type && r->min_size <= size && r->max_size >= size)
      return int(i);
  }
  return -1;
}

size_t CrushMap::do_rule(int rule, uint32_t x, std::span<int32_t> result,
                         std::span<const uint32_t> weight,
                         const std::vector<CrushChooseArg>* args) const {
  if (rule < 0 || size_t(rule) >= rules.size() || !rules[rule] || result.empty()) return 0;
  return RuleRun(*this, x, weight, args).run(*rules[rule], result);
}

const std::vector<CrushChooseArg>* CrushMap::choose_args_for(int64_t pool) const {
  if (auto it = choose_args.find(pool); it != choose_args.end()) return &it->second;
  if (auto it = choose_args.find(-1); it != choose_args.end()) return &it->second;
  return nullptr;
}

}  // namespace pollmsgr::rados
