// perf_msgr_client server_addr numjobs concurrency ios think_time_us msg_len — OSD ops from
// pinned, polling lcores: `numjobs` connections, each keeping `concurrency` ops in flight, `ios`
// ops per job (or for --duration). Against perf_msgr_server by default; with --ceph-pool the
// address is a Ceph monitor's and the ops go to the pool's real OSDs; with --ping the ops are
// KEEPALIVE2 round trips, against any msgr2 server. Reports ops/s, MB/s and round-trip
// percentiles from per-lcore histograms merged at the end. Every reply is checked (osd_client.h);
// any mismatch or lost connection makes the exit status 1.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <fmt/format.h>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <rte_cycles.h>
#include <vector>

#include "apps/ceph_bootstrap.h"
#include "apps/idle_connections.h"
#include "apps/osd_client.h"
#include "apps/perf_common.h"
#include "apps/ping_client.h"
#include "dataplane/runtime/runtime.h"
#include "dataplane/runtime/startup_error.h"

using namespace pollmsgr;
using namespace pollmsgr::perf;

namespace {

struct Flags {
  std::string server_addr, json_path, ceph_pool, op = "write";
  unsigned numjobs = 1, concurrency = 1;
  uint64_t ios = 0, msg_len = 4096;
  double think_us = 0, duration = 0, warmup = 0;
  bool quiet = false, measure_floor = false, ping = false, read = false, cleanup = false;
  int64_t objects = -1;  // -1: the default for the mode
  uint32_t ceph_epoch = 0;
  uint64_t bad_op_at = 0;
  double op_timeout = 60;
  unsigned idle_connections = 0;
  double idle_op_interval = 0;
  std::string as = "client";
};

void add_flags(CLI::App& app, Flags& f) {
  app.add_option("server_addr", f.server_addr,
                 "server address, IPv4:PORT (or v2:IPv4:PORT/NONCE: a Ceph daemon's nonce); with "
                 "--ceph-pool, a monitor's")->required();
  app.add_option("numjobs", f.numjobs, "connections (jobs), spread over the lcores")
      ->check(CLI::Range(1u, 4096u));
  app.add_option("concurrency", f.concurrency, "ops in flight per job")->check(CLI::Range(1u, 4096u));
  app.add_option("ios", f.ios, "ops per job (0: until --duration)");
  app.add_option("think_time_us", f.think_us, "pause before each op, microseconds")
      ->check(CLI::Range(0.0, 3.6e9));
  app.add_option("msg_len", f.msg_len, "bytes of data per write or read")
      ->check(CLI::Range(0ull, 1ull << 30));
  app.add_option("--duration", f.duration, "send for this many seconds")->check(CLI::Range(0.0, 1e6));
  app.add_option("--warmup", f.warmup, "seconds of ops not measured at the start")
      ->check(CLI::Range(0.0, 1e6));
  app.add_option("--json", f.json_path, "write the results to this file as JSON");
  app.add_flag("--quiet", f.quiet, "no progress lines");
  app.add_flag("--measure-floor", f.measure_floor,
               "first measure a raw cache-line ping-pong with the server's lcore (shm)");
  app.add_flag("--ping", f.ping,
               "KEEPALIVE2 round trips instead of OSD ops: any msgr2 server answers them in its "
               "messenger (ours, or a Ceph mon or OSD)");
  app.add_option("--ceph-pool", f.ceph_pool,
                 "write to this pool of a real Ceph cluster: server_addr is a monitor's (tcp)");
  app.add_option("--op", f.op, "write (at moving offsets), writefull, or read")
      ->check(CLI::IsMember({"write", "writefull", "read"}));
  app.add_flag("--read", f.read, "the same as --op read: write the objects first, then read "
                                 "them back, measured, checking every byte");
  app.add_option("--objects", f.objects,
                 "distinct objects each job cycles through; 0: a new object per op, as rados "
                 "bench writes (default: 0 with --ceph-pool, 1 otherwise; 16 for reads)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
  app.add_flag("--cleanup", f.cleanup, "delete the objects written, after the measured ops");
  app.add_option("--ceph-epoch", f.ceph_epoch,
                 "send with this osdmap epoch instead of the mon's (a stale one tests that an "
                 "OSD's MOSDMap is followed)");
  app.add_option("--op-timeout", f.op_timeout,
                 "an op unanswered this many seconds fails the run (default 60; 0: wait forever)")
      ->check(CLI::Range(0.0, 86400.0));
  app.add_option("--idle-connections", f.idle_connections,
                 "open this many more connections, idle (or see --idle-op-interval), before the "
                 "measured jobs start, and keep them open beside them")
      ->check(CLI::Range(0u, 1000000u));
  app.add_option("--idle-op-interval", f.idle_op_interval,
                 "each idle connection makes a KEEPALIVE2 round trip every this many seconds "
                 "(spread evenly; default 0: none)")
      ->check(CLI::Range(0.0, 86400.0));
  app.add_option("--as", f.as,
                 "who we say we are: client, or osd (with --ping: a Ceph OSD's cluster address "
                 "keeps lossless sessions with its peer OSDs)")
      ->check(CLI::IsMember({"client", "osd"}));
  app.add_option("--inject-bad-op", f.bad_op_at,
                 "tests: send the first job's N-th op without its object hash, as a broken client would");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"perf_msgr_client: msgr2 OSD ops (or keepalives) from pinned, polling lcores"};
  Flags f;
  RuntimeOptions runtime_options;
  TransportFlags transport;
  add_flags(app, f);
  add_transport_flags(app, transport);
  add_runtime_options(app, runtime_options);
  if (int status = parse_flags(app, argc, argv); status >= 0) return status;

  try {
    if (f.ios == 0 && f.duration == 0)
      throw StartupError("give a number of ios per job, or --duration (both are 0)");
    if (f.read) f.op = "read";
    const bool ceph = !f.ceph_pool.empty();
    const OsdOpKind op_kind = f.op == "read" ? OsdOpKind::kRead
                              : f.op == "writefull" ? OsdOpKind::kWriteFull : OsdOpKind::kWrite;
    MessengerOptions mo = messenger_options(
        transport, f.as == "osd" ? proto::EntityType::kOsd : proto::EntityType::kClient);
    if (f.as == "osd") mo.auth_name = "0";  // osd.0: who else is in a one-OSD cluster
    const WaitPolicy policy = wait_policy(transport);
    if (f.measure_floor && transport.transport != "shm")
      throw StartupError("--measure-floor needs --transport shm: it pings a cache line in the "
                         "memory the two processes share");
    if (ceph && f.ping) throw StartupError("--ping and --ceph-pool: ping the OSD's address instead");
    if (ceph && !(transport.transport == "tcp" ||
                  (transport.transport == "rdma" && transport.rdma_wire == "ceph")))
      throw StartupError("--ceph-pool needs --transport tcp, or rdma with --rdma-wire ceph: "
                         "what Ceph's daemons speak");
    if (ceph && !mo.lossy)
      throw StartupError("--ceph-pool and --lossless: Ceph's OSDs keep lossy sessions with clients");
    const uint32_t objects = static_cast<uint32_t>(
        f.objects >= 0 ? f.objects : op_kind == OsdOpKind::kRead ? 16 : ceph ? 0 : 1);
    if (op_kind == OsdOpKind::kRead && objects == 0)
      throw StartupError("--op read needs --objects N > 0: reads go to objects written first");
    HostPort server = parse_host_port(f.server_addr);
    ensure_fd_limit(f.numjobs + f.idle_connections, "--idle-connections or numjobs");
    if (runtime_options.lcores.empty() && runtime_options.coremask.empty())
      runtime_options.lcores = "1";
    Runtime runtime(runtime_options, "perf_msgr_client");
    const uint64_t hz = rte_get_tsc_hz();
    const auto cycles = [hz](double seconds) { return static_cast<uint64_t>(seconds * double(hz)); };

    std::vector<unsigned> lcores = runtime.lcores();
    auto backend = make_transport(transport, mo, lcores.size());  // outlives the reactors
    CephClusterView cluster;
    if (ceph) {  // asked over the transport the ops will use: an async+rdma mon has no tcp
      cluster = query_ceph_cluster(*backend, server, f.ceph_pool);
      mo.global_id = cluster.global_id;  // client.<gid>: our name at the OSDs, and our reqids'
    }

    std::vector<uint8_t> payload(f.msg_len);
    for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i * 7 + 1);
    OsdWorkload osd;
    osd.op = op_kind;
    osd.concurrency = f.concurrency;
    osd.ios = f.ios;
    osd.think_cycles = cycles(f.think_us / 1e6);
    osd.inject_faults = transport.inject_faults;
    osd.payload = payload;
    osd.objects = objects;
    osd.cleanup = f.cleanup;
    osd.bad_op_at = f.bad_op_at;
    osd.op_timeout_cycles = cycles(f.op_timeout);
    osd.quiet = f.quiet || transport.inject_faults;  // injected failures are many, and expected
    if (ceph) {
      osd.object_prefix = fmt::format("perf_msgr_client.{}", cluster.global_id);
      osd.pool = cluster.pool_id;
      osd.pg_num = cluster.pg_num;
      osd.osdmap_epoch = f.ceph_epoch ? f.ceph_epoch : cluster.osdmap_epoch;
      osd.primary_of_pg = cluster.primary_of_pg;
    } else {
      osd.object_prefix = fmt::format("perf_msgr_client.{}", getpid());
    }
    PingWorkload ping{f.concurrency, f.ios, osd.think_cycles, 0, 0, transport.inject_faults};

    // What the dispatchers touch first, the reactors last: a reactor destroyed with
    // connections tells their dispatcher (on_fault), so everything that reads outlives it.
    std::vector<OsdJob> osd_jobs(f.ping ? 0 : f.numjobs);
    std::vector<PingJob> ping_jobs(f.ping ? f.numjobs : 0);
    std::vector<Reactor*> reactor_ptrs(lcores.size());
    std::vector<std::unique_ptr<ClientWorkload>> dispatchers;
    std::vector<std::unique_ptr<IdleCrowd>> crowds;
    std::vector<std::unique_ptr<CrowdRouter>> routers;
    std::vector<std::unique_ptr<Reactor>> reactors(lcores.size());
    for (size_t i = 0; i < lcores.size(); ++i) {
      if (f.ping)
        dispatchers.push_back(std::make_unique<PingDispatcher>(ping, reactor_ptrs[i]));
      else
        dispatchers.push_back(std::make_unique<OsdClientDispatcher>(osd, reactor_ptrs[i]));
      crowds.push_back(std::make_unique<IdleCrowd>(
          cycles(f.idle_op_interval), (f.idle_connections + lcores.size() - 1) / lcores.size()));
      routers.push_back(std::make_unique<CrowdRouter>(*dispatchers[i], *crowds[i]));
      Dispatcher& d = f.idle_connections ? static_cast<Dispatcher&>(*routers[i]) : *dispatchers[i];
      reactors[i] = std::make_unique<Reactor>(lcores[i], d, policy);
      reactor_ptrs[i] = reactors[i].get();
      reactors[i]->set_exit_when_idle(true);
    }
    Messenger messenger(mo, reactor_ptrs);
    // The crowd first, spread over the lcores; its handshakes finish in the loops, before the
    // jobs send anything.
    const uint64_t crowd_start = rte_rdtsc();
    for (unsigned k = 0; k < f.idle_connections; ++k) {
      const size_t r = k % reactors.size();
      crowds[r]->add(messenger.connect_to(server, *reactors[r]));
    }
    // ceph: jobs take the OSDs that are some PG's primary in turn.
    std::vector<int> primaries(cluster.primary_of_pg);
    std::sort(primaries.begin(), primaries.end());
    primaries.erase(std::unique(primaries.begin(), primaries.end()), primaries.end());
    Connection* first = nullptr;
    for (unsigned j = 0; j < f.numjobs; ++j) {
      const size_t r = j % reactors.size();
      if (f.ping) {
        ping_jobs[j].conn = messenger.connect_to(server, *reactors[r]);
        static_cast<PingDispatcher&>(*dispatchers[r]).add(&ping_jobs[j]);
        first = first ? first : ping_jobs[j].conn;
        continue;
      }
      OsdJob& job = osd_jobs[j];
      job.index = j;
      HostPort target = server;
      if (ceph) {
        job.osd = primaries[j % primaries.size()];
        target = cluster.osds.at(job.osd);
      }
      job.conn = messenger.connect_to(target, *reactors[r]);
      static_cast<OsdClientDispatcher&>(*dispatchers[r]).add(&job);
      first = first ? first : job.conn;
    }
    install_stop_signals();
    for (size_t i = 0; i < reactors.size(); ++i)  // SIGINT: finish what is in flight, then stop
      reactors[i]->add_timer(1000, [&d = *dispatchers[i]](uint64_t) {
        if (stop_requested().load(std::memory_order_relaxed)) d.stop_sending();
      });

    if (ceph) {
      fmt::print("ceph: pool {} (id {}, {} PG{}), osdmap epoch {}{}, we are client.{}\n",
                 cluster.pool_name, cluster.pool_id, cluster.pg_num, cluster.pg_num > 1 ? "s" : "",
                 cluster.osdmap_epoch,
                 f.ceph_epoch ? fmt::format(" (sending with epoch {})", f.ceph_epoch) : "",
                 cluster.global_id);
      for (int o : primaries)
        fmt::print("  osd.{} at v2:{}/{}\n", o, cluster.osds.at(o).to_string(), cluster.osds.at(o).nonce);
    }

    // Progress once a second on the main lcore, for runs long enough to want it.
    const uint64_t start = rte_rdtsc();
    if (!f.quiet && (f.duration >= 2 || f.ios * f.numjobs >= 2000000)) {
      reactors[0]->add_timer(1000000, [&, last = uint64_t{0}, last_tsc = start](uint64_t now) mutable {
        uint64_t done = 0;
        for (auto& d : dispatchers) done += d->round_trips().completed();
        fmt::print("[{:6.1f}s] {:>12} ops {:>12.0f} ops/s\n", double(now - start) / double(hz), done,
                   double(done - last) * double(hz) / double(now - last_tsc));
        std::fflush(stdout);
        last = done;
        last_tsc = now;
      });
    }

    std::vector<uint64_t> floor_rtts;
    double cpu_at_start = process_cpu_seconds();
    auto set_clock = [&](uint64_t now) {  // the measured part begins
      osd.warmup_end = ping.warmup_end = now + cycles(f.warmup);
      osd.send_end = ping.send_end = f.duration > 0 ? osd.warmup_end + cycles(f.duration) : 0;
    };
    set_clock(start);
    // With a crowd, each lcore serves its loop until its share is up; the last to get there
    // starts the clock, and then every lcore's jobs.
    std::atomic<size_t> crowds_settled{0};
    std::atomic<bool> go{f.idle_connections == 0};
    uint64_t crowd_settled_at = crowd_start;
    runtime.run_on_all_lcores([&](unsigned lcore) {
      for (size_t i = 0; i < reactors.size(); ++i) {
        if (reactors[i]->lcore() != lcore || !f.idle_connections) continue;
        bool running = true;
        while (running && !crowds[i]->settled() && !stop_now().load())
          running = reactors[i]->poll_once();
        if (crowds_settled.fetch_add(1) + 1 == reactors.size()) {
          crowd_settled_at = rte_rdtsc();
          set_clock(crowd_settled_at);
          cpu_at_start = process_cpu_seconds();
          if (!f.quiet) {  // tools/bench-scale waits for this line
            fmt::print("perf_msgr_client: the idle connections are settled in {:.4f} s; the jobs "
                       "start\n", double(crowd_settled_at - crowd_start) / double(hz));
            std::fflush(stdout);
          }
          go.store(true, std::memory_order_release);
        }
        while (running && !go.load(std::memory_order_acquire) && !stop_now().load())
          running = reactors[i]->poll_once();
        routers[i]->start();
      }
      for (size_t i = 0; i < reactors.size(); ++i) {
        if (reactors[i]->lcore() != lcore) continue;
        if (f.measure_floor && i == 0) {
          constexpr size_t kRounds = 20000, kWarm = 2000;
          floor_rtts.resize(kRounds);
          if (static_cast<ShmEndpoint&>(first->endpoint()).measure_floor(floor_rtts.data(), kRounds))
            floor_rtts.erase(floor_rtts.begin(), floor_rtts.begin() + kWarm);
          else
            floor_rtts.clear();  // the server does not serve the probe: said below
        }
        reactors[i]->run(stop_now());
      }
      return 0;
    });

    RoundTrips all(osd.warmup_end);
    LatencyHistogram outages;
    uint64_t errors = 0, unanswered = 0, transport_faults = 0;
    for (auto& d : dispatchers) {
      all.merge(d->round_trips());
      outages.merge(d->outages());
      errors += d->errors();
    }
    for (auto& j : osd_jobs) unanswered += j.unanswered();
    for (auto& j : ping_jobs) unanswered += j.unanswered();
    for (auto& r : reactors) transport_faults += r->stats().transport_faults;
    const LatencyHistogram& h = all.histogram();
    const uint64_t completed = all.completed();
    // Every op completed (warm-up, set-up and clean-up included) against all the CPU the
    // process used meanwhile.
    const double cpu_seconds = process_cpu_seconds() - cpu_at_start;
    const double cpu_us_per_op = completed ? cpu_seconds * 1e6 / double(completed) : 0;
    errors += unanswered;
    const double seconds = double(all.span_cycles()) / double(hz);
    const double iops = seconds > 0 ? double(all.measured()) / seconds : 0;
    const double mbps = f.ping ? 0 : iops * double(f.msg_len) / 1e6;
    const std::string what = f.ping ? "KEEPALIVE2 round trips" : fmt::format("{} B {}s", f.msg_len, f.op);

    nlohmann::json out = {
        {"transport", backend->name()}, {"mode", to_string(policy)},
        {"workload", f.ping ? "ping" : f.op}, {"numjobs", f.numjobs},
        {"concurrency", f.concurrency}, {"msg_len", f.msg_len}, {"ops", all.measured()},
        {"seconds", seconds}, {"iops", iops}, {"mbps", mbps}, {"errors", errors},
        {"unanswered", unanswered}, {"cpu_seconds", cpu_seconds},
        {"cpu_us_per_op", cpu_us_per_op}, {"lossless", transport.lossless},
        {"transport_faults", transport_faults}, {"latency_us", latency_json(h)},
        {"cdf", cdf_json(h)}};
    fmt::print("\nperf_msgr_client: {} over {} ({} mode), {} job{} x {} in flight, {}\n",
               f.server_addr, backend->name(), to_string(policy), f.numjobs,
               f.numjobs > 1 ? "s" : "", f.concurrency, what);
    fmt::print("  ops        {:>12}   in {:.3f} s\n", all.measured(), seconds);
    fmt::print("  ops/s      {:>12.0f}\n", iops);
    if (!f.ping) fmt::print("  MB/s       {:>12.1f}\n", mbps);
    fmt::print("  cpu        {:>12.3f} us/op  ({:.2f} s of this process)\n", cpu_us_per_op,
               cpu_seconds);
    fmt::print("  round trip, us:  {}\n", latency_line(h));
    if (f.measure_floor && floor_rtts.empty())
      fmt::print("  floor: the server did not answer the probe (start it with --serve-floor-probe)\n");
    if (!floor_rtts.empty()) {
      std::sort(floor_rtts.begin(), floor_rtts.end());
      const double p50 = to_us(floor_rtts[floor_rtts.size() / 2]) * 1000;
      const double min = to_us(floor_rtts.front()) * 1000;
      const double ratio = p50 > 0 ? to_us(h.percentile(50)) * 1000 / p50 : 0;
      fmt::print("  floor (cache-line ping-pong with the server's lcore): p50 {:.0f} ns  min "
                 "{:.0f} ns; round trip p50 = {:.2f}x floor\n", p50, min, ratio);
      out["floor_ns"] = {{"p50", p50}, {"min", min}, {"ratio_p50", ratio}};
    }
    if (!f.ping) {
      uint64_t maps = 0, resent = 0, duplicates = 0, deleted = 0;
      for (auto& d : dispatchers) {
        auto& o = static_cast<const OsdClientDispatcher&>(*d);
        maps += o.maps_followed();
        resent += o.ops_resent();
        duplicates += o.duplicate_replies();
        deleted += o.objects_deleted();
      }
      if (maps || resent)
        fmt::print("  osdmap     {:>12} newer maps from the OSDs: {} ops sent again, {} answered "
                   "twice\n", maps, resent, duplicates);
      if (f.cleanup) fmt::print("  cleanup    {:>12} objects deleted\n", deleted);
      out["osdmap"] = {{"maps_followed", maps}, {"ops_resent", resent}, {"duplicate_replies", duplicates}};
      out["objects_deleted"] = deleted;
      if (ceph)
        out["ceph"] = {{"pool", cluster.pool_name}, {"pool_id", cluster.pool_id},
                       {"osdmap_epoch", cluster.osdmap_epoch}, {"global_id", cluster.global_id}};
    }
    if (transport.lossless || transport_faults) {
      fmt::print("  lossless   {:>12} transport failures, {} sessions resumed", transport_faults,
                 outages.count());
      if (outages.count())
        fmt::print(" (outage, us: p50 {:.1f}  max {:.1f})", to_us(outages.percentile(50)),
                   to_us(outages.max()));
      fmt::print("\n");
      out["sessions_resumed"] = outages.count();
      out["outage_us"] = {{"p50", to_us(outages.percentile(50))}, {"max", to_us(outages.max())}};
    }
    if (f.idle_connections) {
      uint64_t answering = 0, lost = 0, sent = 0, answered = 0;
      for (auto& c : crowds) {
        answering += c->answering();
        lost += c->lost();
        sent += c->sent();
        answered += c->answered();
      }
      const double setup_s = double(crowd_settled_at - crowd_start) / double(hz);
      fmt::print("  idle       {:>12} connections up and answering in {:.2f} s ({:.0f}/s), {} lost; "
                 "{} keepalives sent, {} answered\n", answering, setup_s,
                 setup_s > 0 ? double(answering) / setup_s : 0.0, lost, sent, answered);
      out["idle"] = {{"connections", f.idle_connections}, {"answering", answering},
                     {"lost", lost}, {"setup_seconds", setup_s}, {"keepalives_sent", sent},
                     {"keepalives_answered", answered}};
      errors += lost;
      out["errors"] = errors;
    }
    if (errors) fmt::print("  errors     {:>12}   ({} unanswered)\n", errors, unanswered);
    if (!f.json_path.empty()) {
      std::ofstream file(f.json_path);
      file << out.dump(2) << "\n";
      if (!file) throw StartupError("cannot write " + f.json_path, 1);
    }
    return errors ? 1 : 0;
  } catch (const StartupError& e) {
    fmt::print(stderr, "perf_msgr_client: error: {}\n", e.what());
    return e.exit_status();
  }
}
