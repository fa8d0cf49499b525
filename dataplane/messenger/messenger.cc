#include "dataplane/messenger/messenger.h"

#include <sys/random.h>
#include <unistd.h>

#include <fmt/format.h>

#include "dataplane/runtime/startup_error.h"
#include "dataplane/runtime/tsc.h"

namespace pollmsgr {
namespace {
constexpr uint64_t kAcceptPollUs = 200;
// New connections taken per call: a crowd connecting at once is taken in slices, between which
// the ready connections are served (the listener is level-triggered: the rest come next time).
constexpr int kAcceptBurst = 32;

uint64_t random64() {
  uint64_t v = 0;
  while (getrandom(&v, sizeof(v), 0) != sizeof(v) || v == 0) {
  }
  return v;
}
}  // namespace

Messenger::Messenger(MessengerOptions options, std::vector<Reactor*> reactors)
    : options_(std::move(options)), reactors_(std::move(reactors)),
      nonce_(static_cast<uint32_t>(random64())) {
  if (!options_.transport) throw StartupError("the messenger needs a transport", 1);
  for (Reactor* r : reactors_) {
    r->enable_resume(sessions_, uint64_t{options_.reconnect_window_ms} * 1000);
    r->set_reassembly_budget(options_.lcore_reassembly_budget);
  }
}

Messenger::~Messenger() = default;

proto::SessionConfig Messenger::session_config(proto::Role role, const proto::EntityAddr& peer,
                                               uint64_t id) {
  proto::SessionConfig c;
  c.role = role;
  c.my_type = options_.my_type;
  c.peer_addr = peer;
  c.lossy = options_.lossy;
  c.data_crc = options_.data_crc;
  c.auth_name = options_.auth_name;
  c.limits = options_.limits;
  c.global_seq = id;
  // A lossless session is resumed by whoever names its cookie: 64 random bits, never guessed
  // from anything public.
  c.cookie = random64();
  if (role == proto::Role::kServer) {
    c.my_addr = bound_.entity_addr(proto::EntityAddr::kMsgr2);
    c.global_id = id;
  } else {
    // One nonce per connection: a Ceph daemon takes a second connection from the same address
    // for a replacement of the first, and closes that one.
    c.my_addr = proto::EntityAddr::ipv4(proto::EntityAddr::kAny, "127.0.0.1", 0,
                                        nonce_ + static_cast<uint32_t>(id));
    c.global_id = options_.global_id;
  }
  return c;
}

void Messenger::bind(const HostPort& address) {
  bound_ = address;
  bound_.nonce = nonce_;
  transport().listen(address);
  // Poll mode finds new clients on a timer; event mode wakes when the listener is readable (the
  // timer still finishes set-ups whose second half arrives after the connect).
  reactors_.at(0)->add_timer(kAcceptPollUs, [this](uint64_t) { accept_ready(); });
  reactors_.at(0)->watch_fd(transport().listen_fd(), [this] { accept_ready(); });
}

size_t Messenger::index_of(const Reactor& reactor) const {
  size_t index = 0;
  while (index < reactors_.size() && reactors_[index] != &reactor) ++index;
  return index;
}

size_t Messenger::place(uint64_t resume_cookie) {
  if (resume_cookie)  // straight to the lcore that owns the session, if there is one
    if (Reactor* owner = sessions_->owner(resume_cookie)) return index_of(*owner);
  return next_reactor_++ % reactors_.size();
}

void Messenger::refuse(const std::string& why) {
  ++refused_;
  reactors_[0]->dispatcher().on_refused(why);
}

void Messenger::accept_ready() {
  // Runs on the first reactor's lcore only.
  for (int taken = 0; taken < kAcceptBurst; ++taken) {
    auto accepted = transport().accept([this](uint64_t cookie) { return place(cookie); });
    if (!accepted.endpoint && !accepted.refused.empty()) {
      refuse(std::move(accepted.refused));
      continue;
    }
    if (!accepted.endpoint) return;
    const proto::EntityAddr peer = accepted.endpoint->peer_addr();
    if (options_.max_connections && connections() >= options_.max_connections) {
      refuse(fmt::format("refused a connection from {}: {} connections held, the limit "
                         "(--max-connections)", peer.to_string(), options_.max_connections));
      continue;  // its endpoint closes here
    }
    const uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
    auto conn = std::make_unique<Connection>(id, std::move(accepted.endpoint),
                                             session_config(proto::Role::kServer, peer, id), nullptr);
    ++accepted_;
    conn->count_in(live_);
    conn->set_peer_timeout(ms_to_tsc(options_.peer_timeout_ms));
    conn->set_handshake_timeout(ms_to_tsc(options_.handshake_timeout_ms));
    conn->start();
    Reactor* target = reactors_[accepted.reactor_index % reactors_.size()];
    if (target == reactors_[0]) {
      target->adopt(std::move(conn));
    } else if (target->hand_off(conn.get())) {
      conn.release();  // the target reactor owns it now
    } else {
      refuse(fmt::format("refused a connection from {}: lcore {} has {} connections waiting to "
                         "be taken", peer.to_string(), target->lcore(), Reactor::kInboxDepth));
    }
  }
}

Connection* Messenger::connect_to(const HostPort& server, Reactor& reactor) {
  return connect(server, reactor, true);
}

Connection* Messenger::connect_from_lcore(const HostPort& server, Reactor& reactor,
                                          std::string* error) {
  try {
    return connect(server, reactor, false);
  } catch (const StartupError& e) {  // the attempt failed at once (no route, a bad address)
    if (error) *error = e.what();
    return nullptr;
  }
}

Connection* Messenger::connect(const HostPort& server, Reactor& reactor, bool wait) {
  const uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
  proto::SessionConfig config =
      session_config(proto::Role::kClient, server.entity_addr(proto::EntityAddr::kMsgr2), id);
  const uint64_t cookie = config.cookie;
  const size_t index = index_of(reactor);
  auto conn = std::make_unique<Connection>(id, transport().connect(server, index, 0, wait),
                                           std::move(config), nullptr);
  if (!options_.lossy)  // a lossless client dials again from its lcore, never waiting there
    conn->set_redial([t = options_.transport, server, index, cookie] {
      return t->connect(server, index, cookie, false);
    });
  conn->set_peer_timeout(ms_to_tsc(options_.peer_timeout_ms));
  conn->set_handshake_timeout(ms_to_tsc(options_.handshake_timeout_ms));
  conn->start();
  Connection* raw = conn.get();
  reactor.adopt(std::move(conn));
  return raw;
}

}  // namespace pollmsgr
