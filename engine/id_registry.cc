#include "engine/id_registry.h"

namespace eventflow {

std::string IdRegistry::Key(std::string_view org, const Uuid& id) {
  std::string k(org);
  k.push_back('\0');
  k.append(id.AsBytes());
  return k;
}

std::optional<EventLocation> IdRegistry::TryReserve(std::string_view org, const Uuid& id,
                                                    const EventLocation& loc) {
  Shard& shard = ShardFor(id);
  std::lock_guard lock(shard.mu);
  auto [it, inserted] = shard.ids.try_emplace(Key(org, id), loc);
  if (inserted) return std::nullopt;
  return it->second;
}

void IdRegistry::Update(std::string_view org, const Uuid& id, const EventLocation& loc) {
  Shard& shard = ShardFor(id);
  std::lock_guard lock(shard.mu);
  shard.ids[Key(org, id)] = loc;
}

void IdRegistry::Release(std::string_view org, const Uuid& id) {
  Shard& shard = ShardFor(id);
  std::lock_guard lock(shard.mu);
  shard.ids.erase(Key(org, id));
}

std::optional<EventLocation> IdRegistry::Find(std::string_view org, const Uuid& id) const {
  Shard& shard = ShardFor(id);
  std::lock_guard lock(shard.mu);
  auto it = shard.ids.find(Key(org, id));
  if (it == shard.ids.end() || it->second.offset == kUnassigned) return std::nullopt;
  return it->second;
}

}  // namespace eventflow
