// mon_exchange MON_ADDR [transport and runtime flags]: the library's MonSession against a real
// ceph-mon, over tcp or (in tools/rxe-vm, --transport rdma --rdma-wire ceph) over an async+rdma
// mon's own wire. The handshake; MMonGetMap (the fsid); MMonGetVersion "osdmap"; then a value
// larger than any rdma buffer of either side stored with `config-key set` (in the command's
// front) and read back with `config-key get` (in the ack's data): the mon must give back the
// same bytes. Prints each step; exits 0 only when all happened.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "apps/mon_session.h"
#include "apps/perf_common.h"
#include "dataplane/runtime/runtime.h"
#include "dataplane/runtime/startup_error.h"

using namespace pollmsgr;
using namespace pollmsgr::perf;

int main(int argc, char** argv) {
  CLI::App app{"mon_exchange: the library's MonSession against a real ceph-mon"};
  std::string mon_addr;
  uint32_t value_kb = 40;
  app.add_option("mon_addr", mon_addr, "the mon's msgr2 address, ip:port")->required();
  app.add_option("--value-kb", value_kb, "size of the config-key value, KiB")
      ->check(CLI::Range(1u, 1024u));
  TransportFlags transport;
  RuntimeOptions runtime_options;
  add_transport_flags(app, transport);
  add_runtime_options(app, runtime_options);
  if (int status = parse_flags(app, argc, argv); status >= 0) return status;
  try {
    MessengerOptions mo = messenger_options(transport, proto::EntityType::kClient);
    if (runtime_options.lcores.empty() && runtime_options.coremask.empty())
      runtime_options.lcores = "0";
    Runtime runtime(runtime_options, "mon_exchange");
    auto backend = make_transport(transport, mo, 1);
    MonSession s(*backend, parse_host_port(mon_addr), 120);
    fmt::print("handshake complete over {}: client.{}\n", backend->name(), s.global_id());

    auto [map, unused] = s.call(proto::kMsgMonGetMap, {}, proto::kMsgMonMap, "the monmap");
    const auto fsid = proto::decode_mon_map_fsid(map);
    if (!fsid) throw StartupError("the monmap does not decode", 1);
    fmt::print("MMonMap: fsid {}\n", proto::to_string(*fsid));

    std::vector<uint8_t> front(64);
    front.resize(proto::encode_front(front, proto::MonGetVersion{7, "osdmap"}));
    auto [reply_front, none] = s.call(proto::kMsgMonGetVersion, front,
                                      proto::kMsgMonGetVersionReply, "MMonGetVersionReply");
    const auto reply = proto::decode_mon_get_version_reply(reply_front);
    if (!reply) throw StartupError("MMonGetVersionReply does not decode", 1);
    fmt::print("MMonGetVersionReply: handle {} osdmap version {}\n", reply->handle, reply->version);

    std::string value(size_t{value_kb} * 1024, '\0');
    for (size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>('a' + (i * 7 + i / 26) % 26);
    s.command(*fsid, nlohmann::json{{"prefix", "config-key set"}, {"key", "pollmsgr/exchange"},
                                     {"val", value}}.dump());
    const auto got = s.command(*fsid, nlohmann::json{{"prefix", "config-key get"},
                                                     {"key", "pollmsgr/exchange"}}.dump());
    if (std::string(got.begin(), got.end()) != value)
      throw StartupError(fmt::format("config-key get gave {} B, not the {} B stored", got.size(),
                                     value.size()), 1);
    fmt::print("config-key: {} B stored and read back the same\n", value.size());
    fmt::print("mon_exchange: OK\n");
    return 0;
  } catch (const StartupError& e) {
    fmt::print(stderr, "mon_exchange: FAILED: {}\n", e.what());
    return e.exit_status();
  }
}
