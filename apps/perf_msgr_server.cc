// perf_msgr_server bind_addr worker_threads think_time_us — answers Ceph-shaped OSD write ops
// (MOSDOp -> MOSDOpReply) on `worker_threads` pinned lcores, each polling its connections. Runs
// until SIGINT/SIGTERM (or --duration), then reports ops and cycles per op for each lcore.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <algorithm>
#include <cstring>
#include <deque>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <rte_cycles.h>
#include <vector>

#include "apps/perf_common.h"
#include "dataplane/runtime/runtime.h"
#include "dataplane/runtime/startup_error.h"
#include "proto/osd_messages.h"

using namespace pollmsgr;

namespace {

// One per worker lcore: answers OSD ops inline, or after think time. It stores nothing: writes
// (and the other write-class ops librados sends with them) succeed with a version that grows per
// lcore; reads and anything else are answered -EOPNOTSUPP.
//
// Backpressure is per connection: a reply its connection cannot take now (the peer is not
// reading) waits in that connection's own backlog, behind which its later replies queue, while
// every other connection is answered as usual. A backlog past kMaxBacklog closes that
// connection alone.
class ServerDispatcher final : public Dispatcher {
 public:
  ServerDispatcher(uint64_t think_cycles, uint64_t inject_faults, bool verbose)
      : think_cycles_(think_cycles), inject_faults_(inject_faults), verbose_(verbose) {}

  void on_message(Connection& c, const proto::MessageView& m) override {
    if (m.header.type != proto::kMsgOsdOp) {
      ++ignored_;
      return;
    }
    proto::OsdOpRequest& op = request_;
    if (auto e = proto::decode_osd_op(m.front, m.header.version, m.data.size(), op);
        e != proto::ProtoError::kOk) {
      c.fault(fmt::format("malformed MOSDOp (tid {}): {}", m.header.tid, to_string(e)));
      return;
    }
    ++ops_;
    const size_t n = encode_reply(op, scratch_);
    if (think_cycles_ != 0)
      defer(c, m.header.tid, n, rte_rdtsc() + think_cycles_);
    else
      reply(c, m.header.tid, scratch_, n);
    if (inject_faults_ && ops_ % inject_faults_ == 0)
      c.transport_fault("transport failure injected (--inject-faults)");
  }

  void on_tick(uint64_t now) override {
    while (deferred_head_ != deferred_tail_) {  // think time over: in order, never blocked
      Deferred& d = deferred_[deferred_head_ % kDeferred];
      if (d.due > now) break;
      if (d.conn) reply(*d.conn, d.tid, d.front, d.front_len);
      ++deferred_head_;
    }
    for (size_t i = 0; i < stalled_.size();) {  // connections whose peer has caught up?
      if (drain(*stalled_[i])) {
        backlog_of(*stalled_[i])->listed = false;
        stalled_[i] = stalled_.back();
        stalled_.pop_back();
      } else {
        ++i;
      }
    }
  }

  // Event mode: the next reply held back by think time, or soon when a backlog waits.
  uint64_t next_due_tsc() const override {
    if (!stalled_.empty()) return rte_rdtsc() + rte_get_tsc_hz() / 10000;
    return deferred_head_ == deferred_tail_ ? UINT64_MAX : deferred_[deferred_head_ % kDeferred].due;
  }

  void on_fault(Connection& c, std::string_view why) override {
    ++faults_;
    for (uint64_t i = deferred_head_; i != deferred_tail_; ++i)
      if (deferred_[i % kDeferred].conn == &c) deferred_[i % kDeferred].conn = nullptr;
    if (Backlog* b = backlog_of(c)) {
      if (b->listed) stalled_.erase(std::find(stalled_.begin(), stalled_.end(), &c));
      delete b;
      c.user = nullptr;
    }
    // Why a connection was closed is worth a line (a bad peer, a limit reached), at most ten a
    // second; a client's goodbye and our own shutdown, only with --verbose.
    const bool goodbye = c.session().was_ready() &&
                         (why == "peer closed the connection" || why.ends_with("session reset by peer"));
    if (why != kShutdownReason && (verbose_ || !goodbye))
      log_.print(fmt::format("connection {} closed: {}", c.id(), why));
  }

  void on_refused(std::string_view why) override { log_.print(std::string(why)); }

  uint64_t ops() const { return ops_; }
  uint64_t faults() const { return faults_; }
  uint64_t ignored() const { return ignored_; }

 private:
  static constexpr size_t kMaxReplyFront = 1024 + proto::kMaxObjectName;
  // A reply held back (think time, or a peer not reading), encoded already: its request is gone
  // after dispatch.
  static constexpr size_t kDeferredFront = 512;
  struct Deferred {
    Connection* conn;
    uint64_t tid, due;
    uint32_t front_len;
    uint8_t front[kDeferredFront];
  };
  static constexpr size_t kDeferred = 8192;
  static constexpr size_t kMaxBacklog = 4096;
  // A connection's replies that it could not take yet (Connection::user points to it; made
  // when first needed: the slow path).
  struct Backlog {
    std::deque<Deferred> replies;
    bool listed = false;  // on stalled_
  };
  static Backlog* backlog_of(Connection& c) { return static_cast<Backlog*>(c.user); }

  // The OSD's answer: every op succeeds (a write is acknowledged on "disk") except those that
  // would need the data we do not keep.
  size_t encode_reply(const proto::OsdOpRequest& op, uint8_t* out) {
    bool supported = true;
    for (const proto::OsdOp& o : op.ops.view())
      supported &= (o.code & 0xf000) == 0x2000;  // CEPH_OSD_OP_MODE_WR
    constexpr int32_t kNotSupported = -95;  // -EOPNOTSUPP
    proto::OsdOpReply& r = reply_;
    proto::reply_to(op, supported ? 0 : kNotSupported, op.osdmap_epoch, r);
    if (supported) {
      r.replay_version = r.bad_replay_version = {++version_, op.osdmap_epoch};
      r.user_version = version_;
    }
    return proto::encode_front({out, kMaxReplyFront}, r);
  }
  bool send_reply(Connection& c, uint64_t tid, const uint8_t* front, size_t len) {
    auto s = c.send({proto::kMsgOsdOpReply, tid, {front, len}, {}, 127,
                     proto::kOsdOpReplyHeadVersion, proto::kOsdOpReplyCompatVersion});
    return s == SendStatus::kSent || s == SendStatus::kQueued;
  }
  // Sends now, or behind what the connection already has waiting.
  void reply(Connection& c, uint64_t tid, const uint8_t* front, size_t len) {
    Backlog* b = backlog_of(c);
    if ((!b || b->replies.empty()) && send_reply(c, tid, front, len)) return;
    if (len > kDeferredFront) {
      c.fault("a reply too large to hold back (object name too long)");
      return;
    }
    if (!b) c.user = b = new Backlog;
    if (b->replies.size() == kMaxBacklog) {
      c.fault(fmt::format("{} replies waiting: the peer does not read them", kMaxBacklog));
      return;
    }
    Deferred& d = b->replies.emplace_back();
    d = {&c, tid, 0, static_cast<uint32_t>(len), {}};
    std::memcpy(d.front, front, len);
    if (!b->listed) {
      b->listed = true;
      stalled_.push_back(&c);
    }
  }
  // Sends what the connection's backlog holds, while it takes it; true once empty.
  bool drain(Connection& c) {
    std::deque<Deferred>& q = backlog_of(c)->replies;
    while (!q.empty() && send_reply(c, q.front().tid, q.front().front, q.front().front_len))
      q.pop_front();
    return q.empty();
  }
  void defer(Connection& c, uint64_t tid, size_t len, uint64_t due) {
    if (deferred_tail_ - deferred_head_ == kDeferred) {
      c.fault("too many replies held back for think time on this lcore");
      return;
    }
    if (len > kDeferredFront) {
      c.fault("a reply too large to hold back for think time (object name too long)");
      return;
    }
    Deferred& d = deferred_[deferred_tail_++ % kDeferred];
    d.conn = &c;
    d.tid = tid;
    d.due = due;
    d.front_len = static_cast<uint32_t>(len);
    std::memcpy(d.front, scratch_, len);
  }

  // At most `kPerSecond` lines a second; says how many it left out.
  struct RateLimitedLog {
    static constexpr unsigned kPerSecond = 10;
    uint64_t window = 0;
    unsigned printed = 0, dropped = 0;
    void print(const std::string& line) {
      const uint64_t now = rte_rdtsc();
      if (now - window > rte_get_tsc_hz()) {
        if (dropped) fmt::print(stderr, "({} more lines about connections not shown)\n", dropped);
        window = now;
        printed = dropped = 0;
      }
      if (printed++ < kPerSecond) fmt::print(stderr, "{}\n", line); else ++dropped;
    }
  };

  uint64_t think_cycles_, inject_faults_;
  bool verbose_;
  uint64_t version_ = 0;
  proto::OsdOpRequest request_;  // decoded into, message after message: no copies
  proto::OsdOpReply reply_;
  uint8_t scratch_[kMaxReplyFront];
  std::unique_ptr<Deferred[]> deferred_storage_ = std::make_unique<Deferred[]>(kDeferred);
  Deferred* deferred_ = deferred_storage_.get();
  uint64_t deferred_head_ = 0, deferred_tail_ = 0;
  std::vector<Connection*> stalled_;  // with a backlog
  uint64_t ops_ = 0, faults_ = 0, ignored_ = 0;
  RateLimitedLog log_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"perf_msgr_server: answer msgr2 OSD write ops from pinned, polling lcores"};
  std::string bind_addr;
  unsigned workers = 1;
  double think_us = 0, duration = 0;
  bool quiet = false;
  size_t max_connections = 0;
  std::string json_path;
  RuntimeOptions runtime_options;
  perf::TransportFlags transport;
  app.add_option("bind_addr", bind_addr, "address to serve, IPv4:PORT (shm: its name)")->required();
  app.add_option("worker_threads", workers, "worker lcores")->check(CLI::Range(1u, 128u));
  app.add_option("think_time_us", think_us, "delay before each reply, microseconds")
      ->check(CLI::Range(0.0, 3.6e9));
  app.add_option("--duration", duration, "stop after this many seconds (default: on SIGINT)")
      ->check(CLI::Range(0.0, 1e7));
  app.add_flag("--quiet", quiet, "print only the final report");
  app.add_option("--max-connections", max_connections,
                 "connections held at once; one more is refused (default: as many as the "
                 "open-files limit allows, raised to its hard limit)");
  app.add_option("--json", json_path, "on exit, write the report to this file as JSON");
  perf::add_transport_flags(app, transport);
  add_runtime_options(app, runtime_options);
  if (int status = parse_flags(app, argc, argv); status >= 0) return status;

  try {
    if (runtime_options.lcores.empty() && runtime_options.coremask.empty())
      runtime_options.lcores = workers == 1 ? "0" : fmt::format("0-{}", workers - 1);
    MessengerOptions mo = perf::messenger_options(transport, proto::EntityType::kOsd);
    if (max_connections)
      perf::ensure_fd_limit(max_connections, "--max-connections");
    else
      max_connections = perf::connections_within_fd_limit();
    mo.max_connections = max_connections;
    const WaitPolicy policy = perf::wait_policy(transport);
    HostPort bind = parse_host_port(bind_addr);
    Runtime runtime(runtime_options, "perf_msgr_server");
    std::vector<unsigned> lcores = runtime.lcores();
    if (lcores.size() < workers)
      throw StartupError(fmt::format("{} worker threads need {} lcores; --lcores gives {}", workers,
                                     workers, lcores.size()));
    lcores.resize(workers);
    const uint64_t think_cycles =
        static_cast<uint64_t>(think_us * static_cast<double>(rte_get_tsc_hz()) / 1e6);
    auto backend = perf::make_transport(transport, mo, workers);  // outlives the reactors
    std::vector<std::unique_ptr<ServerDispatcher>> dispatchers;
    std::vector<std::unique_ptr<Reactor>> reactors;
    std::vector<Reactor*> reactor_ptrs;
    for (unsigned lcore : lcores) {
      dispatchers.push_back(std::make_unique<ServerDispatcher>(think_cycles, transport.inject_faults,
                                                               runtime_options.verbose));
      reactors.push_back(std::make_unique<Reactor>(lcore, *dispatchers.back(), policy));
      reactor_ptrs.push_back(reactors.back().get());
    }
    Messenger messenger(mo, reactor_ptrs);
    messenger.bind(bind);
    perf::install_stop_signals();
    // kill -USR1: each lcore prints what its connections hold; the first, the pools too.
    for (size_t i = 0; i < reactors.size(); ++i)
      reactors[i]->add_timer(100'000, [&, i, seen = 0u](uint64_t) mutable {
        const unsigned requests = perf::census_requests().load();
        if (requests == seen) return;
        seen = requests;
        std::string census = i == 0 ? perf::pool_census(*backend) : std::string();
        fmt::print("{}", census + perf::lcore_census(*reactors[i]));
        std::fflush(stdout);
      });
    if (duration > 0) {
      const uint64_t end = rte_rdtsc() + static_cast<uint64_t>(duration * rte_get_tsc_hz());
      reactors[0]->add_timer(10000, [end](uint64_t now) {
        if (now >= end) perf::stop_requested().store(true);
      });
    }
    if (!quiet)
      fmt::print("perf_msgr_server: serving {} on {} ({} mode, {} worker lcore{}), think time {} us\n",
                 bind.to_string(), backend->name(), to_string(policy), workers,
                 workers > 1 ? "s" : "", think_us);
    if (!quiet)
      fmt::print("  up to {} connections (--max-connections); {}\n", max_connections,
                 perf::capacity_note(transport, max_connections));
    std::fflush(stdout);
    const double cpu_at_start = perf::process_cpu_seconds();
    runtime.run_on_all_lcores([&](unsigned lcore) {
      for (auto& r : reactors)
        if (r->lcore() == lcore) r->run(perf::stop_requested());
      return 0;
    });
    uint64_t total = 0, resumed = 0, transport_faults = 0;
    nlohmann::json lcore_reports = nlohmann::json::array();
    for (size_t i = 0; i < reactors.size(); ++i) {
      const auto& s = reactors[i]->stats();
      const uint64_t ops = dispatchers[i]->ops();
      total += ops;
      fmt::print("lcore {}: {} ops, {:.0f} busy cycles/op, {:.0f} cycles/op overall, {} connections "
                 "({} closed)",
                 reactors[i]->lcore(), ops, ops ? double(s.busy_cycles) / ops : 0.0,
                 ops ? double(s.total_cycles) / ops : 0.0, s.connections_adopted,
                 s.connections_faulted);
      if (policy != WaitPolicy::kPoll)
        fmt::print(", slept {} times ({} woken by the transport)", s.sleeps, s.wakeups);
      if (transport.lossless)
        fmt::print(", {} transport failures, {} sessions resumed, {} waiting", s.transport_faults,
                   s.sessions_resumed, reactors[i]->parked_count());
      resumed += s.sessions_resumed;
      transport_faults += s.transport_faults;
      fmt::print("\n");
      lcore_reports.push_back({{"lcore", reactors[i]->lcore()}, {"ops", ops},
                               {"busy_cycles", s.busy_cycles}, {"total_cycles", s.total_cycles},
                               {"iterations", s.iterations}, {"polled", s.polled},
                               {"connections", s.connections_adopted}, {"sleeps", s.sleeps}});
    }
    const double cpu_seconds = perf::process_cpu_seconds() - cpu_at_start;
    fmt::print("{}", perf::pool_census(*backend));
    for (const auto& r : reactors) fmt::print("{}", perf::lcore_census(*r));
    fmt::print("perf_msgr_server: {} ops in all, {} connections accepted, {:.3f} us cpu/op\n", total,
               messenger.accepted(), total ? cpu_seconds * 1e6 / double(total) : 0.0);
    if (messenger.refused())
      fmt::print("perf_msgr_server: {} connections refused\n", messenger.refused());
    if (!json_path.empty()) {
      nlohmann::json out = {{"transport", backend->name()}, {"mode", to_string(policy)},
                            {"ops", total}, {"connections", messenger.accepted()},
                            {"cpu_seconds", cpu_seconds}, {"lcores", lcore_reports},
                            {"transport_faults", transport_faults},
                            {"sessions_resumed", resumed},
                            {"peak_rss_kb", perf::peak_rss_kb()}};
      std::ofstream f(json_path);
      f << out.dump(2) << "\n";
      if (!f) throw StartupError("cannot write " + json_path, 1);
    }
    return 0;
  } catch (const StartupError& e) {
    fmt::print(stderr, "perf_msgr_server: error: {}\n", e.what());
    return e.exit_status();
  }
}
