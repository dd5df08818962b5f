// craft-sync-bench: the replicator alone (docs/replication.md, "How big and how fast").
// The scene, in process, no sockets: entities on a random walk inside 800 x 600
// (position as two numbers at 0.01, a heading at 1 degree), a snapshot every tick at 20 Hz,
// every client acking each snapshot it gets one tick later (a loopback round trip). Cases:
// 10 entities seen whole, and 100 entities with an interest radius covering a quarter of the
// arena, at 100 and 1,000 clients per room (one room: the encoder's cost per client does not
// depend on how many rooms share a shard), then the scene of bench/run-scene: ten rooms of ten
// clients, ticked one after another as a shard does, so each room's data is cold again at its
// tick. Reports thread CPU time: capture per room tick, encode per client per snapshot, decode
// per client per snapshot (the C++ decoder), everything the server does per client and tick
// (capture, encode and ack, timed per tick: per-call clock reads would dominate the smaller
// figures), and the snapshot data bytes per client (mean, and the first, full, one).
//   craft-sync-bench [ticks=200] [scene]   (scene: only the ten-room rows)
#include <time.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <craft/replication.hpp>

#include "sync/decoder.hpp"

namespace {
using namespace craft::sync;

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

struct Body {
  float x = 0, y = 0, heading = 0;
};

struct Result {
  double capture_us = 0, encode_us = 0, decode_us = 0, total_us = 0, bytes = 0, first_bytes = 0;
};

// One room: its world, replicator, bodies and (for the first `decoders` clients) decoders.
struct Room {
  craft::ecs::Registry world;
  Replicator sync{world, {1, 32, 0}};
  std::vector<craft::ecs::Entity> es;
  std::vector<std::unique_ptr<SnapshotDecoder>> decs;
};

std::unique_ptr<Room> make_room(int entities, int clients, bool area, int decoders, std::mt19937& rng) {
  auto room = std::make_unique<Room>();
  Replicator& sync = room->sync;
  sync.replicate<Body>("body", Fields<Body>{}
                                   .number("x", &Body::x, 0, 800, 0.01)
                                   .number("y", &Body::y, 0, 600, 0.01)
                                   .number("heading", &Body::heading, 0, 360, 1));
  sync.position_from<Body>([](const Body& b) { return Vec3{b.x, b.y, 0}; });
  sync.configure(20, 32, 0);
  std::uniform_real_distribution<float> ux(0, 800), uy(0, 600);
  for (int i = 0; i < entities; ++i) {
    auto e = room->world.create();
    room->world.add<Body>(e, ux(rng), uy(rng), float(rng() % 360));
    room->es.push_back(e);
  }
  // A quarter of the arena: pi r^2 = 800 * 600 / 4.
  const float radius = float(std::sqrt(800.0 * 600.0 / 4.0 / 3.14159265358979));
  for (int c = 0; c < clients; ++c) {
    sync.add_client(craft::SessionId(c + 1));
    if (area) sync.set_interest(craft::SessionId(c + 1), room->es[size_t(c) % room->es.size()], radius);
  }
  for (int d = 0; d < decoders; ++d) room->decs.push_back(SnapshotDecoder::create(schema_of(sync), 32));
  return room;
}

// With one room, capture and encode are timed per call; with several, only whole ticks.
Result run(int entities, int clients, bool area, int ticks, int decoders, int rooms = 1) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> step(-3, 3), turn(-10, 10);
  std::vector<std::unique_ptr<Room>> all;
  for (int i = 0; i < rooms; ++i) all.push_back(make_room(entities, clients, area, rooms == 1 ? decoders : 0, rng));
  Result r;
  double capture = 0, encode = 0, decode = 0, total = 0;
  uint64_t bytes = 0, snapshots = 0, decoded = 0;
  std::string out;
  for (int t = 1; t <= ticks; ++t) {
    for (auto& room : all) {
      Replicator& sync = room->sync;
      for (auto e : room->es) {
        Body* b = room->world.get<Body>(e);
        b->x = std::fmod(b->x + step(rng) + 800.f, 800.f);
        b->y = std::fmod(b->y + step(rng) + 600.f, 600.f);
        b->heading = std::fmod(b->heading + turn(rng) + 360.f, 360.f);
      }
      if (rooms > 1) {
        double t0 = cpu_seconds();
        sync.capture(uint32_t(t));
        for (int c = 0; c < clients; ++c) {
          out.clear();
          sync.encode(craft::SessionId(c + 1), out);
          bytes += out.size();
          ++snapshots;
          if (t == 1 && c == 0) r.first_bytes = double(out.size());
          sync.ack(craft::SessionId(c + 1), uint32_t(t));
        }
        total += cpu_seconds() - t0;
        continue;
      }
      double t0 = cpu_seconds();
      sync.capture(uint32_t(t));
      capture += cpu_seconds() - t0;
      double untimed = 0;
      for (int c = 0; c < clients; ++c) {
        out.clear();
        double e0 = cpu_seconds();
        sync.encode(craft::SessionId(c + 1), out);
        encode += cpu_seconds() - e0;
        bytes += out.size();
        ++snapshots;
        if (t == 1 && c == 0) r.first_bytes = double(out.size());
        if (c < decoders) {
          double d0 = cpu_seconds();
          if (room->decs[size_t(c)]->decode(out) != DecodeResult::ok) std::abort();
          decode += cpu_seconds() - d0;
          untimed += cpu_seconds() - d0;
          ++decoded;
        }
        sync.ack(craft::SessionId(c + 1), uint32_t(t));
      }
      total += cpu_seconds() - t0 - untimed;
    }
  }
  r.capture_us = rooms == 1 ? capture / ticks * 1e6 : 0;
  r.encode_us = rooms == 1 ? encode / double(snapshots) * 1e6 : 0;
  r.decode_us = decoded ? decode / double(decoded) * 1e6 : 0;
  r.total_us = total / double(snapshots) * 1e6;
  r.bytes = double(bytes) / double(snapshots);
  return r;
}
}  // namespace

int main(int argc, char** argv) {
  int ticks = argc > 1 ? std::atoi(argv[1]) : 200;
  if (ticks < 2) ticks = 2;
  std::printf("craft-sync-bench: %d snapshots at 20 Hz, acks one tick later; thread CPU time\n", ticks);
  std::printf("%6s %9s %8s %6s %12s %16s %15s %17s %14s %12s %14s\n", "rooms", "entities", "clients", "area",
              "capture/tick", "encode/snap", "decode/snap", "all/client-tick", "bytes/snap", "first (full)",
              "bytes/client/s");
  auto row = [](int rooms, int entities, int clients, bool area, const Result& r) {
    auto us = [](double v, char* buf) {
      if (v > 0) std::snprintf(buf, 32, "%.2f us", v);
      else std::snprintf(buf, 32, "-");
      return buf;
    };
    char a[32], b[32], c[32];
    std::printf("%6d %9d %8d %6s %12s %16s %15s %14.2f us %14.1f %12.0f %14.0f\n", rooms, entities, clients,
                area ? "1/4" : "all", us(r.capture_us, a), us(r.encode_us, b), us(r.decode_us, c), r.total_us, r.bytes,
                r.first_bytes, r.bytes * 20);
  };
  const bool scene_only = argc > 2 && std::string(argv[2]) == "scene";
  for (int entities : {10, 100}) {
    for (int clients : {100, 1000}) {
      bool area = entities == 100;
      if (!scene_only) row(1, entities, clients, area, run(entities, clients, area, ticks, 10));
    }
  }
  // bench/run-scene's `players` and `bots-aoi` at 100 clients: ten rooms of ten.
  for (int entities : {10, 100}) row(10, entities, 10, entities == 100, run(entities, 10, entities == 100, ticks, 0, 10));
  return 0;
}
