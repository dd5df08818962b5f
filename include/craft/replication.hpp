// Replicated state: craft sends each member of a room its view of the room's entities as
// quantized, bit-packed snapshots, each a delta against the newest snapshot that client
// acknowledged (its baseline), or full when it has none. Room code only changes components
// in its craft::ecs::Registry; the Replicator does the rest.
//
//   struct Pos { float x = 0, y = 0; };
//   class Arena : public craft::Room {
//     craft::ecs::Registry world_;
//     craft::sync::Replicator sync_{world_};
//     void on_create(std::string_view) override {
//       sync_.replicate<Pos>("pos", craft::sync::Fields<Pos>{}
//                                       .number("x", &Pos::x, 0, 800, 0.1)
//                                       .number("y", &Pos::y, 0, 600, 0.1));
//       sync_.position_from<Pos>([](const Pos& p) { return craft::sync::Vec3{p.x, p.y, 0}; });
//       set_replicator(&sync_);   // craft::Room: snapshots go out after every on_tick
//     }
//   };
//
// The model is Quake 3's, as Glenn Fiedler describes it ("Snapshot Compression", "State
// Synchronization", gafferongames.com): per-client baselines chosen by acks, a window of sent
// frames per client (bounded memory for a client that never acks), interest (an area around
// the client plus interest groups), and a per-client byte budget filled by a priority
// accumulator (nearer and longer-waiting entities first). The wire format is
// docs/protocol.md §4.20; the guide is docs/replication.md.
//
// Threads: a Replicator belongs to one room, so to one shard; nothing in it is thread-safe.
// Errors: misuse by room code (a second replicate<T>, more than 32 components, a bad range)
// throws std::invalid_argument, which the room guard turns into the end of that room.
#pragma once
#include <craft/ecs.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace craft {
using SessionId = uint64_t;
}

namespace craft::sync {

struct Vec2 {
  float x = 0, y = 0;
};
struct Vec3 {
  float x = 0, y = 0, z = 0;
};

// The wire types of docs/protocol.md §4.20.2 (values equal StateFieldType's).
enum class FieldType : uint8_t { integer = 1, number = 2, boolean = 3, enumeration = 4, text = 5, vec2 = 6, vec3 = 7 };

// One field as the wire sees it; also what state_schema tells clients.
struct FieldSpec {
  std::string name;
  FieldType type = FieldType::integer;
  double min = 0;        // integer, number, vec2, vec3: inclusive range; values are clamped to it
  double max = 0;
  double precision = 1;  // number, vec2, vec3: the quantum (a value is sent as round((v - min) / precision))
  uint32_t count = 0;    // enumeration: number of values; text: max bytes
};

// Bits of one value on the wire (one axis for a vector; for text, bits per byte = 8 and the
// length prefix comes on top). Throws std::invalid_argument for a spec that cannot be sent
// (min > max, precision <= 0 or not finite, more than 2^32 steps, count 0 for an enumeration).
uint32_t value_bits(const FieldSpec& spec);

namespace detail {
// How a component's field is read; built by Fields<T>.
struct FieldAccess {
  FieldSpec spec;
  // Numeric fields (integer, number, boolean, enumeration, vec2, vec3): writes 1-3 axes.
  std::function<void(const void* component, double* axes)> read_number;
  // Text fields.
  std::function<std::string_view(const void* component)> read_text;
};
struct ComponentAccess {
  std::string name;
  const void* type = nullptr;  // one address per replicated C++ type (a second replicate<T> throws)
  std::vector<FieldAccess> fields;
  // The entities that have the component, and the component of one entity (null if none).
  std::function<void(ecs::Registry&, std::vector<ecs::Entity>& out)> owners;
  std::function<const void*(const ecs::Registry&, ecs::Entity)> get;
};
}  // namespace detail

// The replicated fields of component type T, in wire order, named by member pointers.
template <class T>
class Fields {
 public:
  template <class M>
  Fields& integer(std::string name, M T::*member, int64_t min, int64_t max) {
    static_assert(std::is_integral_v<M>, "integer(): an integral member");
    return add({std::move(name), FieldType::integer, double(min), double(max), 1, 0},
               [member](const void* c, double* a) { a[0] = double(static_cast<const T*>(c)->*member); });
  }
  template <class M>
  Fields& number(std::string name, M T::*member, double min, double max, double precision) {
    static_assert(std::is_arithmetic_v<M>, "number(): an arithmetic member");
    return add({std::move(name), FieldType::number, min, max, precision, 0},
               [member](const void* c, double* a) { a[0] = double(static_cast<const T*>(c)->*member); });
  }
  Fields& boolean(std::string name, bool T::*member) {
    return add({std::move(name), FieldType::boolean, 0, 1, 1, 0},
               [member](const void* c, double* a) { a[0] = static_cast<const T*>(c)->*member ? 1 : 0; });
  }
  // Values 0 to count-1 (an enum class or an integer member).
  template <class M>
  Fields& enumeration(std::string name, M T::*member, uint32_t count) {
    static_assert(std::is_integral_v<M> || std::is_enum_v<M>, "enumeration(): an enum or integral member");
    return add({std::move(name), FieldType::enumeration, 0, double(count ? count - 1 : 0), 1, count},
               [member](const void* c, double* a) { a[0] = double(static_cast<int64_t>(static_cast<const T*>(c)->*member)); });
  }
  // UTF-8 text of at most max_bytes bytes (longer text is cut at a character boundary).
  Fields& text(std::string name, std::string T::*member, uint32_t max_bytes) {
    detail::FieldAccess f;
    f.spec = {std::move(name), FieldType::text, 0, 0, 1, max_bytes};
    f.read_text = [member](const void* c) { return std::string_view(static_cast<const T*>(c)->*member); };
    fields_.push_back(std::move(f));
    return *this;
  }
  Fields& vec2(std::string name, Vec2 T::*member, double min, double max, double precision) {
    return add({std::move(name), FieldType::vec2, min, max, precision, 0}, [member](const void* c, double* a) {
      const Vec2& v = static_cast<const T*>(c)->*member;
      a[0] = v.x, a[1] = v.y;
    });
  }
  Fields& vec3(std::string name, Vec3 T::*member, double min, double max, double precision) {
    return add({std::move(name), FieldType::vec3, min, max, precision, 0}, [member](const void* c, double* a) {
      const Vec3& v = static_cast<const T*>(c)->*member;
      a[0] = v.x, a[1] = v.y, a[2] = v.z;
    });
  }

  std::vector<detail::FieldAccess>& access() { return fields_; }

 private:
  Fields& add(FieldSpec spec, std::function<void(const void*, double*)> read) {
    detail::FieldAccess f;
    f.spec = std::move(spec);
    f.read_number = std::move(read);
    fields_.push_back(std::move(f));
    return *this;
  }
  std::vector<detail::FieldAccess> fields_;
};

struct ReplicatorOptions {
  uint32_t send_interval_ticks = 1;  // a snapshot every this many room ticks (1 = every tick)
  uint32_t baseline_window = 0;      // snapshots remembered per client, at most 1024 (more throws
                                     // std::invalid_argument); 0: replication.baseline_window
  uint32_t bytes_per_second = 0;     // default per-client budget; 0: replication.client_bytes_per_second
};

// What a Replicator did, for tests and metrics: counters only, cheap to read (the room host
// reads them after every ack and snapshot).
struct ReplicatorStats {
  uint64_t snapshots = 0;         // encoded, all clients
  uint64_t full_snapshots = 0;    // of those, without a baseline
  uint64_t shared = 0;            // of those, copied from an identical encode for another client
  uint64_t bytes = 0;             // snapshot data bytes encoded
  uint64_t deferred = 0;          // entity changes left for a later snapshot by a byte budget
  uint64_t acks_ignored = 0;      // acks for ticks never sent to that client or out of its window
};

class Replicator {
 public:
  explicit Replicator(ecs::Registry& world, ReplicatorOptions options = {});
  ~Replicator();
  Replicator(const Replicator&) = delete;
  Replicator& operator=(const Replicator&) = delete;

  // Declare a replicated component type, before the room's first snapshot. At most 32,
  // names unique and non-empty. Every entity with at least one replicated component is
  // replicated; destroying it (or removing its last replicated component) removes it.
  template <class T>
  void replicate(std::string name, Fields<T> fields) {
    detail::ComponentAccess c;
    static const char type_tag = 0;  // one per T (an inline template's static)
    c.name = std::move(name);
    c.type = &type_tag;
    c.fields = std::move(fields.access());
    c.owners = [](ecs::Registry& w, std::vector<ecs::Entity>& out) {
      w.each<T>([&](ecs::Entity e, T&) { out.push_back(e); });
    };
    c.get = [](const ecs::Registry& w, ecs::Entity e) -> const void* { return w.get<T>(e); };
    add_component(std::move(c));
  }

  // Interest (docs/replication.md "Interest"). Where an entity is, for areas of interest:
  // read from its T component; an entity without one is outside every area.
  template <class T>
  void position_from(std::function<Vec3(const T&)> where) {
    set_position_source([where = std::move(where)](const ecs::Registry& w, ecs::Entity e, Vec3& out) {
      const T* c = w.get<T>(e);
      if (c) out = where(*c);
      return c != nullptr;
    });
  }
  // A client's area of interest: entities within `radius` of a point, or of an entity (which
  // the client always sees). Without an area a client sees every entity not in a group.
  void set_interest(SessionId client, Vec3 center, float radius);
  void set_interest(SessionId client, ecs::Entity center, float radius);
  void clear_interest(SessionId client);
  // Interest groups: an entity in group g (0 = none) is seen only by clients in g, wherever
  // it is; a client may be in many groups.
  void set_group(ecs::Entity entity, uint32_t group);
  void join_group(SessionId client, uint32_t group);
  void leave_group(SessionId client, uint32_t group);
  // Priority weight (default 1): how fast an entity's claim on a client's budget grows.
  void set_priority(ecs::Entity entity, float weight);
  // A client's byte budget (bytes of snapshot data per second); 0 = the default.
  void set_budget(SessionId client, uint32_t bytes_per_second);

  // The entity's network id, 0 if it has not been in a snapshot yet.
  uint32_t net_id(ecs::Entity entity) const;

  // Driven by craft (the room host), or by a test. Ticks strictly increase.
  void capture(uint32_t tick);                     // snapshot the world as of this tick
  void add_client(SessionId client);
  void remove_client(SessionId client);
  void ack(SessionId client, uint32_t tick);       // hostile input: bad ticks are ignored
  // Appends the client's state_snapshot data for the last captured tick; appends nothing
  // before the first capture, for an unknown client, or when this client already got this
  // tick's snapshot (one per capture: send nothing then).
  void encode(SessionId client, std::string& out);

  const std::vector<detail::ComponentAccess>& components() const;
  const ReplicatorOptions& options() const;
  // The room's tick rate (budgets are per second) and the server's defaults for the options
  // left 0. The room host calls it before the first capture; a test calls it itself.
  void configure(uint32_t tick_rate_hz, uint32_t default_baseline_window, uint32_t default_bytes_per_second);
  ReplicatorStats stats() const;
  // Baselines and history held now, in bytes (approximate). Walks every client's frames: for
  // tests and occasional gauges, not for every message.
  size_t memory_bytes() const;

 private:
  void add_component(detail::ComponentAccess c);
  void set_position_source(std::function<bool(const ecs::Registry&, ecs::Entity, Vec3&)> source);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace craft::sync
