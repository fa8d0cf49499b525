// echo_server IPv4:PORT [--lcores N]: a pollmsgr server on one pinned, polling lcore that
// answers every message with its front, over tcp. Stops on Ctrl-C. (The README's example.)
#include <csignal>
#include <cstdio>
#include <vector>

#include "dataplane/messenger/messenger.h"
#include "dataplane/runtime/runtime.h"
#include "dataplane/runtime/startup_error.h"
#include "dataplane/transport/tcp_transport.h"

using namespace pollmsgr;

namespace {
std::atomic<bool> stop{false};

// Called inline on the lcore that owns the connection, for each message it receives.
struct Echo final : Dispatcher {
  uint64_t echoed = 0;
  void on_message(Connection& c, const proto::MessageView& m) override {
    // The message's spans are valid only during this call; send() copies the front.
    if (c.send({m.header.type, m.header.tid, m.front}) != SendStatus::kBusy) ++echoed;
  }
  void on_fault(Connection& c, std::string_view why) override {
    std::printf("connection %llu closed: %.*s\n", static_cast<unsigned long long>(c.id()),
                static_cast<int>(why.size()), why.data());
  }
};
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: echo_server IPv4:PORT [--lcores N] [--no-huge]\n");
    return 2;
  }
  try {
    RuntimeOptions rt;
    rt.lcores = argc > 3 && std::string(argv[2]) == "--lcores" ? argv[3] : "0";
    rt.no_huge = std::string(argv[argc - 1]) == "--no-huge";
    Runtime runtime(rt, "echo_server");  // DPDK's EAL: pinned lcores, hugepages

    TcpTransport transport;
    Echo echo;
    Reactor reactor(runtime.main_lcore(), echo);  // poll mode: the lcore spins
    MessengerOptions options;
    options.transport = &transport;
    options.my_type = proto::EntityType::kOsd;
    Messenger messenger(options, {&reactor});
    messenger.bind(parse_host_port(argv[1]));

    std::signal(SIGINT, [](int) { stop = true; });
    std::signal(SIGTERM, [](int) { stop = true; });
    std::printf("echo_server: serving %s\n", argv[1]);
    std::fflush(stdout);
    reactor.run(stop);  // this thread is the main lcore, pinned by the runtime
    std::printf("echo_server: %llu messages echoed\n", static_cast<unsigned long long>(echo.echoed));
    return 0;
  } catch (const StartupError& e) {
    std::fprintf(stderr, "echo_server: %s\n", e.what());
    return e.exit_status();
  }
}
