// The session directory (ServerCore::add_session / post_to_session): how presence code on
// any shard reaches a session on its own shard.
#include "core/cluster_parties.hpp"
#include "core/server_core.hpp"
#include "core/session.hpp"

namespace craft::detail {

void ServerCore::add_session(SessionId id, uint32_t shard, std::weak_ptr<Session> session) {
  std::lock_guard lock(directory_mutex_);
  directory_[id] = AccountSession{id, shard, std::move(session)};
}

void ServerCore::remove_session(SessionId id) {
  std::lock_guard lock(directory_mutex_);
  directory_.erase(id);
}

bool ServerCore::post_to_session(SessionId id, v1::Envelope e) {
  AccountSession entry;
  {
    std::lock_guard lock(directory_mutex_);
    auto it = directory_.find(id);
    if (it == directory_.end()) return false;
    entry = it->second;
  }
  // Stopping: every session is being closed anyway, and the shards may be going away.
  if (stopping()) return true;
  shard(entry.shard).post([session = std::move(entry.session), e = std::move(e)] {
    if (auto s = session.lock()) s->deliver(e);
  });
  return true;
}

bool ServerCore::deliver_anywhere(SessionId id, v1::Envelope e) {
  // A session that asked a party here from another node is known to live there: checked
  // first, so the envelope is not copied.
  if (cluster_parties_ && cluster_parties_->forward(id, e)) return true;
  return post_to_session(id, std::move(e));
}

}  // namespace craft::detail
