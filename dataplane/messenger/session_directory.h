#pragma once
// Which lcore owns each lossless server session, by client cookie: where a client's
// SESSION_RECONNECT, which may arrive on any lcore, has to go. Touched when a session becomes
// ready, ends, or is asked for by a reconnecting client: never on the data path.
#include <cstdint>
#include <mutex>
#include <unordered_map>

namespace pollmsgr {

class Reactor;

class SessionDirectory {
 public:
  void record(uint64_t client_cookie, Reactor* owner) {
    std::lock_guard lock(mutex_);
    owners_[client_cookie] = owner;
  }
  void forget(uint64_t client_cookie, Reactor* owner) {
    std::lock_guard lock(mutex_);
    auto it = owners_.find(client_cookie);
    if (it != owners_.end() && it->second == owner) owners_.erase(it);
  }
  Reactor* owner(uint64_t client_cookie) const {
    std::lock_guard lock(mutex_);
    auto it = owners_.find(client_cookie);
    return it == owners_.end() ? nullptr : it->second;
  }

 private:
  mutable std::mutex mutex_;
  std::unordered_map<uint64_t, Reactor*> owners_;
};

}  // namespace pollmsgr
