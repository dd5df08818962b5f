// A minimal entity-component system for room state.
//
//   craft::ecs::Registry world;
//   auto player = world.create();
//   world.add<Position>(player, 0.f, 0.f);
//   world.add<Velocity>(player, 1.f, 0.f);
//   world.each<Position, Velocity>([](craft::ecs::Entity, Position& p, Velocity& v) { p.x += v.x; });
//
// Entities are 32-bit index + 32-bit generation, so a handle to a destroyed entity is
// detected instead of aliasing its successor. Each component type lives in a sparse set
// (dense components + dense owners + sparse index); iteration walks the smallest pool.
// Component type ids come from a per-type static counter: no RTTI, no reflection.
// A Registry belongs to one room and so to one thread; only the type-id counter is shared,
// and it is atomic because rooms on different shards may meet a new type at the same time.
//
// Inside each(): add(), remove() and destroy() are not allowed, whatever the type (they
// would move components under the loop). They throw ecs::UsageError, in every build: the
// check is one integer compare, and a throw (unlike an assert or abort) is caught by the
// guard around room code, which ends that room and leaves the server running. Collect the
// entities and change them after the loop. create(), get(), has() and a nested each() are fine.
// A component added to an entity replaces the one it had. Pointers from get() stay valid
// until the next add(), remove() or destroy() of that component type.
// Generations wrap after 2^32 destroys of one slot; a handle kept that long may alias.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace craft::ecs {

// Misuse that would corrupt the registry: add(), remove() or destroy() inside each(), or
// add() to an entity that is not alive. Nothing has changed when it is thrown.
class UsageError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

struct Entity {
  uint32_t index = std::numeric_limits<uint32_t>::max();
  uint32_t generation = 0;
  friend bool operator==(Entity, Entity) = default;
};

namespace detail {
inline size_t next_type_id() {
  static std::atomic<size_t> counter{0};
  return counter.fetch_add(1, std::memory_order_relaxed);
}
template <class T>
size_t type_id() {
  static const size_t id = next_type_id();
  return id;
}

class PoolBase {
 public:
  virtual ~PoolBase() = default;
  virtual void remove(uint32_t index) = 0;
  virtual bool contains(uint32_t index) const = 0;
  virtual size_t size() const = 0;
  virtual const std::vector<uint32_t>& owners() const = 0;
};

template <class T>
class Pool final : public PoolBase {
 public:
  static constexpr uint32_t absent = std::numeric_limits<uint32_t>::max();

  template <class... A>
  T& emplace(uint32_t index, A&&... args) {
    if (index >= sparse_.size()) sparse_.resize(index + 1, absent);
    if (sparse_[index] != absent) return dense_[sparse_[index]] = T{std::forward<A>(args)...};
    sparse_[index] = static_cast<uint32_t>(dense_.size());
    owners_.push_back(index);
    return dense_.emplace_back(T{std::forward<A>(args)...});
  }
  T* get(uint32_t index) {
    return contains(index) ? &dense_[sparse_[index]] : nullptr;
  }
  void remove(uint32_t index) override {
    if (!contains(index)) return;
    uint32_t slot = sparse_[index];
    uint32_t last_owner = owners_.back();
    // Swap with the last element so the dense arrays stay packed; skip the self-move
    // when it is the last, which some component types do not survive.
    if (slot + 1 != dense_.size()) {
      dense_[slot] = std::move(dense_.back());
      owners_[slot] = last_owner;
      sparse_[last_owner] = slot;
    }
    dense_.pop_back();
    owners_.pop_back();
    sparse_[index] = absent;
  }
  bool contains(uint32_t index) const override { return index < sparse_.size() && sparse_[index] != absent; }
  size_t size() const override { return dense_.size(); }
  const std::vector<uint32_t>& owners() const override { return owners_; }

 private:
  std::vector<T> dense_;
  std::vector<uint32_t> owners_;
  std::vector<uint32_t> sparse_;
};
}  // namespace detail

// Owns the entities and components of one room. Also spelled ecs::World.
class Registry {
 public:
  Entity create() {
    if (!free_.empty()) {
      uint32_t index = free_.back();
      free_.pop_back();
      alive_[index] = true;
      return {index, generations_[index]};
    }
    generations_.push_back(0);
    alive_.push_back(true);
    return {static_cast<uint32_t>(generations_.size() - 1), 0};
  }

  // Removes the entity and all its components; its handle becomes stale.
  void destroy(Entity e) {
    check_not_iterating("destroy()");
    if (!alive(e)) return;
    for (auto& pool : pools_) {
      if (pool) pool->remove(e.index);
    }
    alive_[e.index] = false;
    ++generations_[e.index];
    free_.push_back(e.index);
  }

  bool alive(Entity e) const {
    return e.index < generations_.size() && alive_[e.index] && generations_[e.index] == e.generation;
  }
  size_t size() const { return generations_.size() - free_.size(); }

  // Adds (or replaces) a component, built from `args` by aggregate or constructor.
  // `e` must be alive (else UsageError): check alive() first when the handle may be stale.
  template <class T, class... A>
  T& add(Entity e, A&&... args) {
    check_not_iterating("add()");
    if (!alive(e)) throw UsageError("craft::ecs: add() to an entity that is not alive");
    return pool<T>().emplace(e.index, std::forward<A>(args)...);
  }
  template <class T>
  T* get(Entity e) {
    auto* p = find_pool<T>();
    return p && alive(e) ? p->get(e.index) : nullptr;
  }
  template <class T>
  const T* get(Entity e) const {
    auto* p = find_pool<T>();
    return p && alive(e) ? p->get(e.index) : nullptr;
  }
  template <class T>
  bool has(Entity e) const {
    auto* p = find_pool<T>();
    return p && alive(e) && p->contains(e.index);
  }
  template <class T>
  void remove(Entity e) {
    check_not_iterating("remove()");
    if (auto* p = find_pool<T>(); p && alive(e)) p->remove(e.index);
  }
  template <class T>
  size_t count() const {
    auto* p = find_pool<T>();
    return p ? p->size() : 0;
  }

  // Calls f(Entity, Ts&...) for every entity that has all of Ts, in no promised order.
  template <class... Ts, class F>
  void each(F&& f) {
    static_assert(sizeof...(Ts) > 0);
    std::tuple<detail::Pool<Ts>*...> pools{find_pool<Ts>()...};
    bool any_missing = false;
    std::apply([&](auto*... p) { any_missing = ((p == nullptr) || ...); }, pools);
    if (any_missing) return;
    const detail::PoolBase* smallest = nullptr;
    std::apply([&](auto*... p) { ((smallest = !smallest || p->size() < smallest->size() ? p : smallest), ...); },
               pools);
    // A guard, so a callback that throws does not leave the registry locked.
    struct Iterating {
      int& depth;
      explicit Iterating(int& d) : depth(d) { ++depth; }
      ~Iterating() { --depth; }
    } iterating{iterating_};
    for (uint32_t index : smallest->owners()) {
      bool has_all = std::apply([&](auto*... p) { return (p->contains(index) && ...); }, pools);
      if (!has_all) continue;
      Entity e{index, generations_[index]};
      std::apply([&](auto*... p) { f(e, *p->get(index)...); }, pools);
    }
  }

 private:
  void check_not_iterating(const char* what) const {
    if (iterating_ != 0) throw UsageError(std::string("craft::ecs: ") + what + " inside each()");
  }
  template <class T>
  detail::Pool<T>& pool() {
    auto id = detail::type_id<T>();
    if (id >= pools_.size()) pools_.resize(id + 1);
    if (!pools_[id]) pools_[id] = std::make_unique<detail::Pool<T>>();
    return static_cast<detail::Pool<T>&>(*pools_[id]);
  }
  template <class T>
  detail::Pool<T>* find_pool() const {
    auto id = detail::type_id<T>();
    return id < pools_.size() ? static_cast<detail::Pool<T>*>(pools_[id].get()) : nullptr;
  }

  std::vector<uint32_t> generations_;
  std::vector<bool> alive_;
  std::vector<uint32_t> free_;
  std::vector<std::unique_ptr<detail::PoolBase>> pools_;
  int iterating_ = 0;
};

using World = Registry;

}  // namespace craft::ecs
