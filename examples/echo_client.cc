// echo_client IPv4:PORT COUNT [--no-huge]: sends COUNT messages, one at a time, to an
// echo_server and checks that each comes back, the same and in order; prints the round trip.
#include <rte_cycles.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "dataplane/messenger/messenger.h"
#include "dataplane/runtime/runtime.h"
#include "dataplane/runtime/startup_error.h"
#include "dataplane/transport/tcp_transport.h"

using namespace pollmsgr;

namespace {
constexpr uint16_t kType = 0x7e57;  // our own message type

struct Client final : Dispatcher {
  uint64_t count, next = 1, answered = 0, errors = 0, sent_at = 0, total_cycles = 0;
  Connection* conn = nullptr;
  Reactor* reactor = nullptr;
  std::string front;
  explicit Client(uint64_t n) : count(n) {}

  void send_next() {
    front = "hello " + std::to_string(next);
    sent_at = rte_rdtsc();
    conn->send({kType, next, {reinterpret_cast<const uint8_t*>(front.data()), front.size()}});
  }
  void on_ready(Connection&) override { send_next(); }
  void on_message(Connection&, const proto::MessageView& m) override {
    total_cycles += rte_rdtsc() - sent_at;
    const bool same = m.header.tid == next && m.front.size() == front.size() &&
                      std::memcmp(m.front.data(), front.data(), front.size()) == 0;
    if (!same) ++errors;
    if (++answered == count || !same) {
      conn->close();
      reactor->request_stop();
      return;
    }
    ++next;
    send_next();
  }
  void on_fault(Connection&, std::string_view why) override {
    std::fprintf(stderr, "echo_client: lost the connection: %.*s\n", static_cast<int>(why.size()),
                 why.data());
    ++errors;
    reactor->request_stop();
  }
};
}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: echo_client IPv4:PORT COUNT [--no-huge]\n");
    return 2;
  }
  try {
    RuntimeOptions rt;
    rt.lcores = "1";
    rt.no_huge = std::string(argv[argc - 1]) == "--no-huge";
    Runtime runtime(rt, "echo_client");
    TcpTransport transport;
    Client client(std::stoull(argv[2]));
    Reactor reactor(runtime.main_lcore(), client);
    MessengerOptions options;
    options.transport = &transport;
    Messenger messenger(options, {&reactor});
    client.reactor = &reactor;
    client.conn = messenger.connect_to(parse_host_port(argv[1]), reactor);
    reactor.run(std::atomic<bool>{false});
    std::printf("echo_client: %llu of %llu echoed, %llu wrong; mean round trip %.2f us\n",
                static_cast<unsigned long long>(client.answered),
                static_cast<unsigned long long>(client.count),
                static_cast<unsigned long long>(client.errors),
                client.answered ? double(client.total_cycles) / client.answered * 1e6 / rte_get_tsc_hz() : 0.0);
    return client.errors || client.answered != client.count ? 1 : 0;
  } catch (const StartupError& e) {
    std::fprintf(stderr, "echo_client: %s\n", e.what());
    return e.exit_status();
  }
}
