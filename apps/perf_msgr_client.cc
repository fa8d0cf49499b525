// perf_msgr_client server_addr numjobs concurrency ios think_time_us msg_len — Ceph-shaped OSD
// writes from pinned, polling lcores: `numjobs` connections, each keeping `concurrency` ops in
// flight, `ios` ops per job (or for --duration). Reports ops/s, MB/s and round-trip latency
// percentiles from per-lcore histograms merged at the end. Every reply is checked: the right
// tid, in order, exactly once; any mismatch or lost connection makes the exit status 1.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <fmt/format.h>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <rte_cycles.h>
#include <vector>

#include "apps/perf_common.h"
#include "dataplane/runtime/runtime.h"
#include "dataplane/runtime/startup_error.h"
#include "dataplane/stats/latency_histogram.h"
#include "proto/osd_messages.h"

using namespace pollmsgr;

namespace {

struct Settings {
  unsigned concurrency = 1;
  uint64_t ios = 0;
  uint64_t think_cycles = 0;
  uint64_t warmup_end = 0;  // TSC; ops completing before it are not measured
  uint64_t send_end = 0;    // TSC; 0 = no time limit
  uint64_t inject_faults = 0;  // break the transport every this many replies
  std::span<const uint8_t> payload;
};

struct Job {
  Connection* conn = nullptr;
  std::string object;
  uint64_t next_tid = 1, expected_tid = 1;
  uint64_t sent = 0, completed = 0;
  unsigned inflight = 0;
  uint64_t next_send = 0;
  std::vector<uint64_t> sent_at;  // by tid % concurrency
  std::vector<uint8_t> front;     // the op's front, encoded once; tid and offset patched per op
  bool done = false;
};

// One per client lcore: its jobs, their histogram and counters.
class ClientDispatcher final : public Dispatcher {
 public:
  ClientDispatcher(const Settings& s, Reactor*& reactor) : s_(s), reactor_(reactor) {}

  void add(Job* job) {
    job->conn->user = job;
    job->sent_at.assign(s_.concurrency, 0);
    proto::OsdWriteOp op;
    op.object = job->object;
    op.length = s_.payload.size();
    job->front.resize(proto::osd_write_op_front_size(op));
    proto::encode_front(job->front, op);
    jobs_.push_back(job);
  }

  void on_ready(Connection& c) override { static_cast<Job*>(c.user)->next_send = rte_rdtsc(); }

  void on_tick(uint64_t now) override {
    for (Job* j : jobs_) {
      if (j->done || !j->conn->ready()) continue;
      if (done_sending(*j, now) && j->inflight == 0) finish(j);
      while (j->inflight < s_.concurrency && now >= j->next_send && !done_sending(*j, now)) {
        if (!send_op(*j, now)) break;
        if (s_.think_cycles) j->next_send = now + s_.think_cycles;
      }
    }
  }

  // Event mode: the next op that waits for think time, not for a reply.
  uint64_t next_due_tsc() const override {
    uint64_t due = UINT64_MAX;
    const uint64_t now = rte_rdtsc();
    for (const Job* j : jobs_)
      if (!j->done && j->conn->ready() && j->inflight < s_.concurrency && !done_sending(*j, now))
        due = std::min(due, j->next_send);
    return due;
  }

  void on_message(Connection& c, const proto::MessageView& m) override {
    Job& j = *static_cast<Job*>(c.user);
    const uint64_t now = rte_rdtsc();
    if (m.header.type != proto::kMsgOsdOpReply || m.header.tid != j.expected_tid ||
        j.inflight == 0) {
      ++errors_;  // a stranger, a tid out of order, or an answer nobody asked for
      c.fault(fmt::format("unexpected reply: type {} tid {} (expected tid {})", m.header.type,
                          m.header.tid, j.expected_tid));
      return;
    }
    auto reply = proto::decode_osd_op_reply(m.front);
    if (!reply || reply->result != 0) ++errors_;
    const uint64_t rtt = now - j.sent_at[m.header.tid % s_.concurrency];
    if (now >= s_.warmup_end) {
      histogram_.record(rtt);
      ++measured_;
      last_completion_ = std::max(last_completion_, now);
      if (first_measured_send_ == 0) first_measured_send_ = now - rtt;
    }
    ++j.expected_tid;
    --j.inflight;
    ++j.completed;
    completed_.store(completed_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (s_.think_cycles) j.next_send = now + s_.think_cycles;
    if (s_.inject_faults && ++replies_ % s_.inject_faults == 0)
      c.transport_fault("transport failure injected (--inject-faults)");
  }

  void on_resumed(Connection&, uint64_t outage) override { outages_.record(outage); }

  void on_fault(Connection& c, std::string_view why) override {
    Job& j = *static_cast<Job*>(c.user);
    j.conn = nullptr;  // it is about to go
    if (!j.done) {
      ++errors_;
      fmt::print(stderr, "perf_msgr_client: connection {} lost: {}\n", c.id(), why);
      j.done = true;
      ++finished_;
    }
  }

  bool all_done() const { return finished_ == jobs_.size(); }
  uint64_t completed() const { return completed_.load(std::memory_order_relaxed); }
  const LatencyHistogram& histogram() const { return histogram_; }
  const LatencyHistogram& outages() const { return outages_; }
  uint64_t errors() const { return errors_; }
  uint64_t measured() const { return measured_; }
  uint64_t first_measured_send() const { return first_measured_send_; }
  uint64_t last_completion() const { return last_completion_; }
  const std::vector<Job*>& jobs() const { return jobs_; }

 private:
  bool done_sending(const Job& j, uint64_t now) const {
    return (s_.ios && j.sent >= s_.ios) || (s_.send_end && now >= s_.send_end);
  }
  bool send_op(Job& j, uint64_t now) {
    proto::patch_write_op(j.front, j.object.size(), j.next_tid,
                          (j.sent * s_.payload.size()) % (4ull << 30));
    auto st = j.conn->send({proto::kMsgOsdOp, j.next_tid, j.front, s_.payload, 63,
                            proto::kOsdOpHeadVersion, proto::kOsdOpCompatVersion});
    if (st != SendStatus::kSent && st != SendStatus::kQueued) return false;
    j.sent_at[j.next_tid % s_.concurrency] = now;
    ++j.next_tid;
    ++j.sent;
    ++j.inflight;
    return true;
  }
  void finish(Job* j) {
    j->done = true;
    if (j->conn->session().lossless()) j->conn->close();  // or the server keeps it a while
    if (++finished_ == jobs_.size()) reactor_->request_stop();
  }

  const Settings& s_;
  Reactor*& reactor_;
  std::vector<Job*> jobs_;
  LatencyHistogram histogram_;
  LatencyHistogram outages_;  // lossless: one per session resumed, transport failure to resume
  std::atomic<uint64_t> completed_{0};  // read by the progress line on another lcore
  uint64_t replies_ = 0;
  uint64_t measured_ = 0, errors_ = 0, first_measured_send_ = 0, last_completion_ = 0;
  size_t finished_ = 0;
};

double to_us(uint64_t cycles) { return double(cycles) * 1e6 / double(rte_get_tsc_hz()); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"perf_msgr_client: msgr2 OSD writes from pinned, polling lcores"};
  std::string server_addr, json_path;
  unsigned numjobs = 1, concurrency = 1;
  uint64_t ios = 0, msg_len = 4096;
  double think_us = 0, duration = 0, warmup = 0;
  bool quiet = false, measure_floor = false;
  RuntimeOptions runtime_options;
  perf::TransportFlags transport;
  app.add_option("server_addr", server_addr, "server address, IPv4:PORT")->required();
  app.add_option("numjobs", numjobs, "connections (jobs), spread over the lcores")
      ->check(CLI::Range(1u, 4096u));
  app.add_option("concurrency", concurrency, "ops in flight per job")->check(CLI::Range(1u, 4096u));
  app.add_option("ios", ios, "ops per job (0: until --duration)");
  app.add_option("think_time_us", think_us, "pause before each op, microseconds")
      ->check(CLI::NonNegativeNumber);
  app.add_option("msg_len", msg_len, "bytes of data per write")->check(CLI::Range(0ull, 1ull << 30));
  app.add_option("--duration", duration, "send for this many seconds")->check(CLI::NonNegativeNumber);
  app.add_option("--warmup", warmup, "seconds of ops not measured at the start")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--json", json_path, "write the results to this file as JSON");
  app.add_flag("--quiet", quiet, "no progress lines");
  app.add_flag("--measure-floor", measure_floor,
               "first measure a raw cache-line ping-pong with the server's lcore (shm)");
  perf::add_transport_flags(app, transport);
  add_runtime_options(app, runtime_options);
  if (int status = parse_flags(app, argc, argv); status >= 0) return status;

  try {
    if (ios == 0 && duration == 0)
      throw StartupError("give a number of ios per job, or --duration (both are 0)");
    MessengerOptions mo = perf::messenger_options(transport, proto::EntityType::kClient);
    const WaitPolicy policy = perf::wait_policy(transport);
    if (measure_floor && mo.transport != TransportKind::kShm)
      throw StartupError("--measure-floor needs --transport shm: it pings a cache line in the "
                         "memory the two processes share");
    HostPort server = parse_host_port(server_addr);
    if (runtime_options.lcores.empty() && runtime_options.coremask.empty())
      runtime_options.lcores = "1";
    Runtime runtime(runtime_options, "perf_msgr_client");
    const uint64_t hz = rte_get_tsc_hz();

    Settings s;
    s.concurrency = concurrency;
    s.ios = ios;
    s.think_cycles = static_cast<uint64_t>(think_us * double(hz) / 1e6);
    s.inject_faults = transport.inject_faults;
    std::vector<uint8_t> payload(msg_len);
    for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i * 7 + 1);
    s.payload = payload;

    std::vector<unsigned> lcores = runtime.lcores();
    auto rdma = perf::make_rdma_transport(transport, mo, lcores.size());  // outlives the reactors
    std::vector<std::unique_ptr<Reactor>> reactors(lcores.size());
    std::vector<Reactor*> reactor_ptrs(lcores.size());
    std::vector<std::unique_ptr<ClientDispatcher>> dispatchers;
    for (size_t i = 0; i < lcores.size(); ++i) {
      dispatchers.push_back(std::make_unique<ClientDispatcher>(s, reactor_ptrs[i]));
      reactors[i] = std::make_unique<Reactor>(lcores[i], *dispatchers[i], policy);
      reactor_ptrs[i] = reactors[i].get();
      reactors[i]->set_exit_when_idle(true);
    }
    Messenger messenger(mo, reactor_ptrs);
    std::vector<Job> jobs(numjobs);
    for (unsigned j = 0; j < numjobs; ++j) {
      const size_t r = j % reactors.size();
      jobs[j].conn = messenger.connect_to(server, *reactors[r]);
      jobs[j].object = fmt::format("perf_msgr_client.{}.job{}", getpid(), j);
      dispatchers[r]->add(&jobs[j]);
    }
    perf::install_stop_signals();

    // Progress once a second on the main lcore, for runs long enough to want it.
    const uint64_t start = rte_rdtsc();
    if (!quiet && (duration >= 2 || ios * numjobs >= 2000000)) {
      reactors[0]->add_timer(1000000, [&, last = uint64_t{0}, last_tsc = start](uint64_t now) mutable {
        uint64_t done = 0;
        for (auto& d : dispatchers) done += d->completed();
        fmt::print("[{:6.1f}s] {:>12} ops {:>12.0f} ops/s\n", double(now - start) / double(hz), done,
                   double(done - last) * double(hz) / double(now - last_tsc));
        std::fflush(stdout);
        last = done;
        last_tsc = now;
      });
    }

    std::vector<uint64_t> floor_rtts;
    const double cpu_at_start = perf::process_cpu_seconds();
    s.warmup_end = start + static_cast<uint64_t>(warmup * double(hz));
    s.send_end = duration > 0 ? s.warmup_end + static_cast<uint64_t>(duration * double(hz)) : 0;
    runtime.run_on_all_lcores([&](unsigned lcore) {
      for (size_t i = 0; i < reactors.size(); ++i) {
        if (reactors[i]->lcore() != lcore) continue;
        if (measure_floor && i == 0) {
          constexpr size_t kRounds = 20000, kWarm = 2000;
          floor_rtts.resize(kRounds);
          auto& ep = static_cast<ShmEndpoint&>(jobs[0].conn->endpoint());
          ep.measure_floor(floor_rtts.data(), kRounds);
          floor_rtts.erase(floor_rtts.begin(), floor_rtts.begin() + kWarm);
        }
        reactors[i]->run(perf::stop_requested());
      }
      return 0;
    });

    LatencyHistogram all, outages;
    uint64_t errors = 0, measured = 0, first = UINT64_MAX, last = 0;
    for (auto& d : dispatchers) {
      all.merge(d->histogram());
      outages.merge(d->outages());
      errors += d->errors();
      measured += d->measured();
      if (d->measured()) {
        first = std::min(first, d->first_measured_send());
        last = std::max(last, d->last_completion());
      }
    }
    uint64_t unanswered = 0, completed = 0, transport_faults = 0;
    for (auto& j : jobs) {
      unanswered += j.sent - j.completed;
      completed += j.completed;
    }
    for (auto& r : reactors) transport_faults += r->stats().transport_faults;
    const uint64_t resumed = outages.count();
    // Every op completed, warm-up included, against all the CPU the process used meanwhile.
    const double cpu_seconds = perf::process_cpu_seconds() - cpu_at_start;
    const double cpu_us_per_op = completed ? cpu_seconds * 1e6 / double(completed) : 0;
    errors += unanswered;
    const double seconds = measured ? double(last - first) / double(hz) : 0;
    const double iops = seconds > 0 ? double(measured) / seconds : 0;
    const double mbps = iops * double(msg_len) / 1e6;

    nlohmann::json out = {
        {"transport", to_string(mo.transport)}, {"mode", to_string(policy)}, {"numjobs", numjobs},
        {"concurrency", concurrency}, {"msg_len", msg_len}, {"ops", measured},
        {"seconds", seconds}, {"iops", iops}, {"mbps", mbps}, {"errors", errors},
        {"unanswered", unanswered}, {"cpu_seconds", cpu_seconds},
        {"cpu_us_per_op", cpu_us_per_op}, {"lossless", transport.lossless},
        {"transport_faults", transport_faults}, {"sessions_resumed", resumed}};
    fmt::print("\nperf_msgr_client: {} over {} ({} mode), {} job{} x {} in flight, {} B writes\n",
               server_addr, to_string(mo.transport), to_string(policy), numjobs,
               numjobs > 1 ? "s" : "", concurrency, msg_len);
    fmt::print("  ops        {:>12}   in {:.3f} s\n", measured, seconds);
    fmt::print("  ops/s      {:>12.0f}\n  MB/s       {:>12.1f}\n", iops, mbps);
    fmt::print("  cpu        {:>12.3f} us/op  ({:.2f} s of this process)\n", cpu_us_per_op,
               cpu_seconds);
    fmt::print("  round trip, us:  min {:.3f}  p50 {:.3f}  p90 {:.3f}  p99 {:.3f}  p99.9 {:.3f}  "
               "p99.99 {:.3f}  max {:.3f}\n",
               to_us(all.min()), to_us(all.percentile(50)), to_us(all.percentile(90)),
               to_us(all.percentile(99)), to_us(all.percentile(99.9)),
               to_us(all.percentile(99.99)), to_us(all.max()));
    out["latency_us"] = {{"min", to_us(all.min())},          {"p50", to_us(all.percentile(50))},
                         {"p90", to_us(all.percentile(90))}, {"p99", to_us(all.percentile(99))},
                         {"p99.9", to_us(all.percentile(99.9))},
                         {"p99.99", to_us(all.percentile(99.99))},
                         {"max", to_us(all.max())},          {"mean", to_us(uint64_t(all.mean()))}};
    // The latency CDF, one point per histogram bucket: [upper bound in us, fraction at or below].
    nlohmann::json cdf = nlohmann::json::array();
    uint64_t below = 0;
    all.for_each_bucket([&](uint64_t, uint64_t high, uint64_t count) {
      below += count;
      cdf.push_back({to_us(high), double(below) / double(all.count())});
    });
    out["cdf"] = std::move(cdf);
    if (!floor_rtts.empty()) {
      std::sort(floor_rtts.begin(), floor_rtts.end());
      const double p50 = to_us(floor_rtts[floor_rtts.size() / 2]) * 1000;
      const double min = to_us(floor_rtts.front()) * 1000;
      const double ratio = p50 > 0 ? to_us(all.percentile(50)) * 1000 / p50 : 0;
      fmt::print("  floor (cache-line ping-pong with the server's lcore): p50 {:.0f} ns  min "
                 "{:.0f} ns; round trip p50 = {:.2f}x floor\n", p50, min, ratio);
      out["floor_ns"] = {{"p50", p50}, {"min", min}, {"ratio_p50", ratio}};
    }
    if (transport.lossless || transport_faults) {
      fmt::print("  lossless   {:>12} transport failures, {} sessions resumed", transport_faults,
                 resumed);
      if (outages.count())
        fmt::print(" (outage, us: p50 {:.1f}  max {:.1f})", to_us(outages.percentile(50)),
                   to_us(outages.max()));
      fmt::print("\n");
      out["outage_us"] = {{"p50", to_us(outages.percentile(50))}, {"max", to_us(outages.max())}};
    }
    if (errors)
      fmt::print("  errors     {:>12}   ({} unanswered)\n", errors, unanswered);
    if (!json_path.empty()) {
      std::ofstream f(json_path);
      f << out.dump(2) << "\n";
      if (!f) throw StartupError("cannot write " + json_path, 1);
    }
    return errors ? 1 : 0;
  } catch (const StartupError& e) {
    fmt::print(stderr, "perf_msgr_client: error: {}\n", e.what());
    return e.exit_status();
  }
}
