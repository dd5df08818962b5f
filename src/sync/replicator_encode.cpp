// Encoding a client's snapshot (docs/protocol.md §4.20.3): a delta against the newest frame it
// acked, within its byte budget, from entity encodings shared across the room's clients; and
// the window of frames sent to each client.
#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <utility>

#include "sync/bits.hpp"
#include "sync/quantize.hpp"
#include "sync/replicator_impl.hpp"

namespace craft::sync {

void Replicator::Impl::write_fields(BitWriter& w, const RoomSnapshot& s, size_t comp, uint32_t at) const {
  for (const FieldPlan& f : plans[comp]) {
    write_one(w, s, f, at);
    at += f.axes;
  }
}

void Replicator::Impl::write_create(BitWriter& w, const RoomSnapshot& s, size_t i) const {
  uint32_t mask = s.masks[i];
  w.u(uint32_t(components.size()), mask);
  uint32_t at = s.offsets[i];
  for (size_t c = 0; c < components.size(); ++c) {
    if (!(mask & (1u << c))) continue;
    write_fields(w, s, c, at);
    at += slots[c];
  }
}

bool Replicator::Impl::write_update(BitWriter* w, const RoomSnapshot& s, size_t i, const RoomSnapshot* base, size_t j,
                                    uint32_t old_mask, const DeltaWidths& dw) const {
  uint32_t mask = s.masks[i];
  uint32_t old_at[max_components];
  if (base) component_offsets(old_mask, old_at);
  // First pass: is there anything to send?
  bool any = mask != old_mask || !base;
  if (!any) {
    uint32_t at = s.offsets[i], bat = base->offsets[j];
    for (size_t c = 0; c < components.size() && !any; ++c) {
      if (!(mask & (1u << c))) continue;
      for (const FieldPlan& f : plans[c])
        for (uint32_t k = f.axes; k > 0; --k, ++at, ++bat)
          if (!same_slot(s, at, *base, bat, f.text)) any = true;
    }
  }
  if (!any || !w) return any;
  w->u(1, mask != old_mask ? 1 : 0);
  if (mask != old_mask) w->u(uint32_t(components.size()), mask);
  uint32_t at = s.offsets[i];
  for (size_t c = 0; c < components.size(); ++c) {
    if (!(mask & (1u << c))) continue;
    if (!(old_mask & (1u << c))) {
      write_fields(*w, s, c, at);
      at += slots[c];
      continue;
    }
    // Which fields differ from the client's state?
    bool changed[64];
    bool comp_changed = false;
    const std::vector<FieldPlan>& fplans = plans[c];
    size_t nf = fplans.size();
    uint32_t a = at, b = base ? base->offsets[j] + old_at[c] : 0;
    for (size_t f = 0; f < nf; ++f) {
      bool diff = !base;
      for (uint32_t k = fplans[f].axes; k > 0; --k, ++a, ++b)
        if (base && !same_slot(s, a, *base, b, fplans[f].text)) diff = true;
      if (f < 64) changed[f] = diff;
      comp_changed |= diff;
    }
    w->u(1, comp_changed ? 1 : 0);
    if (comp_changed) {
      uint32_t fa = at, fb = base ? base->offsets[j] + old_at[c] : 0;
      uint32_t d = first_delta[c];
      for (size_t f = 0; f < nf; ++f) {
        const FieldPlan& fld = fplans[f];
        bool diff = f < 64 ? changed[f] : true;
        w->u(1, diff ? 1 : 0);
        const uint32_t width = fld.axes;
        const uint32_t dwidth = fld.delta && dw.any ? dw.widths[d] : 0;
        if (diff && dwidth > 0) {
          // A small signed difference from the client's value when every axis fits, else
          // the value itself (no base capture: the client's value is not known here).
          bool fits = base != nullptr;
          for (uint32_t k = 0; k < width && fits; ++k)
            fits = zigzag(int64_t(s.values[fa + k]) - int64_t(base->values[fb + k])) < (uint64_t(1) << dwidth);
          w->u(1, fits ? 1 : 0);
          if (fits) {
            for (uint32_t k = 0; k < width; ++k)
              w->u(dwidth, uint32_t(zigzag(int64_t(s.values[fa + k]) - int64_t(base->values[fb + k]))));
          } else {
            write_one(*w, s, fld, fa);
          }
        } else if (diff) {
          write_one(*w, s, fld, fa);
        }
        fa += width, fb += width;
        if (fld.delta) ++d;
      }
    }
    at += slots[c];
  }
  return true;
}

void Replicator::Impl::write_one(BitWriter& w, const RoomSnapshot& s, const FieldPlan& f, uint32_t at) const {
  if (f.text) {
    const std::string& t = s.texts[s.values[at]];
    w.v(7, uint32_t(t.size()));
    for (unsigned char ch : t) w.u(8, ch);
    return;
  }
  for (uint32_t a = 0; a < f.axes; ++a) w.u(f.bits, s.values[at + a]);
}

void Replicator::Impl::encode(SessionId session, std::string& out) {
  auto cit = clients.find(session);
  if (cit == clients.end() || history.empty()) return;
  Client& c = cit->second;
  const RoomSnapshot& s = history.back();
  if (!c.frames.empty() && c.frames.back().tick >= s.tick) return;  // once per capture

  const Frame* base = c.has_ack ? sent_frame(c, c.acked) : nullptr;
  if (!base) c.has_ack = false;
  const uint32_t bps = c.bytes_per_second ? c.bytes_per_second : options.bytes_per_second;
  const bool budgeted = bps != 0;
  const bool shareable = c.area == AreaKind::none;
  if (shareable) {
    for (const SharedEncode& sh : shared) {
      if (sh.full != !base || sh.bps != bps || sh.groups != c.groups) continue;
      if (base && (sh.base_tick != base->tick || sh.base_entries.size() != base->entries.size() ||
                   !std::equal(sh.base_entries.begin(), sh.base_entries.end(), base->entries.begin(),
                               [](const FrameEntry& x, const FrameEntry& y) {
                                 return x.id == y.id && x.source == y.source && x.mask == y.mask;
                               })))
        continue;
      out += sh.bytes;
      c.accumulated.clear();  // everything was sent
      push_frame(c, s.tick, sh.frame);
      ++stats.snapshots, ++stats.shared;
      if (!base) ++stats.full_snapshots;
      stats.bytes += sh.bytes.size();
      return;
    }
  }
  std::vector<uint32_t>& view = scratch.view;
  Vec3 center;
  bool has_center = false;
  interest(c, view, center, has_center);

  // Walk the baseline frame and the view together (both sorted by id).
  // Scratch buffers live in the Impl: a snapshot per client per tick allocates nothing
  // once they have grown.
  std::vector<uint32_t>& removed = scratch.removed;
  std::vector<Candidate>& candidates = scratch.candidates;
  std::vector<FrameEntry>& kept = scratch.kept;  // baseline entries that stay, with their new source
  std::vector<size_t>& kept_candidate = scratch.kept_candidate;  // per kept entry: candidate index or npos
  removed.clear(), candidates.clear(), kept.clear(), kept_candidate.clear();
  constexpr size_t none = size_t(-1);
  const DeltaWidths& dw = widths_for(base ? s.tick - base->tick : 0);
  size_t bi = 0, vi = 0;
  const size_t bn = base ? base->entries.size() : 0;
  auto nearness = [&](size_t i) {
    if (!has_center || c.radius <= 0 || !s.has_position[i]) return 1.f;
    double dx = double(s.positions[i].x) - center.x, dy = double(s.positions[i].y) - center.y,
           dz = double(s.positions[i].z) - center.z;
    return float(1.0 / (1.0 + std::sqrt(dx * dx + dy * dy + dz * dz) / c.radius));
  };
  while (bi < bn || vi < view.size()) {
    uint32_t bid = bi < bn ? base->entries[bi].id : std::numeric_limits<uint32_t>::max();
    uint32_t vid = vi < view.size() ? s.ids[view[vi]] : std::numeric_limits<uint32_t>::max();
    if (bi < bn && (vi == view.size() || bid < vid)) {
      removed.push_back(bid);  // gone, or out of interest
      ++bi;
    } else if (vi < view.size() && (bi == bn || vid < bid)) {
      size_t i = view[vi++];
      candidates.push_back({i, none, 0, create_bits(i) + gap_estimate_bits});
    } else {
      size_t i = view[vi++];
      const FrameEntry& e = base->entries[bi];
      kept.push_back(e);
      kept_candidate.push_back(none);
      if (e.source >= s.changed[i] && e.mask == s.masks[i]) {
        kept.back().source = s.tick;  // unchanged since the client's state: nothing to send
      } else {
        if (uint32_t bits = update_bits(i, e, dw)) {
          kept_candidate.back() = candidates.size();
          candidates.push_back({i, kept.size() - 1, 0, bits + gap_estimate_bits});
        } else {
          kept.back().source = s.tick;
        }
      }
      ++bi;
    }
  }

  std::vector<uint8_t>& chosen = scratch.chosen;
  chosen.assign(candidates.size(), 1);
  if (!budgeted) {
    c.accumulated.clear();
  } else {
    uint64_t budget_bits = uint64_t(bps) * 8 * options.send_interval_ticks / std::max(1u, tick_rate);
    uint64_t used = 32 + varint_bits(base ? s.tick - base->tick : 0, 7) + 3 * 8 +
                    (base ? 1 + (dw.any ? 5 * delta_fields : 0) : 0) + 4 * uint64_t(removed.size());
    uint64_t all = used;
    for (const Candidate& cand : candidates) all += cand.bits;
    if (all <= budget_bits) {
      c.accumulated.clear();  // everything fits: nothing waits, no priority carries over
    } else {
      // Priority accumulator (Fiedler, "State Synchronization"): every snapshot an entity is
      // pending, its priority grows by weight x nearness; the budget goes to the highest.
      // The candidates are in id order (the walk above), as is the accumulator.
      size_t ai = 0;
      for (Candidate& cand : candidates) {
        uint32_t cid = s.ids[cand.index];
        while (ai < c.accumulated.size() && c.accumulated[ai].first < cid) ++ai;
        float before = ai < c.accumulated.size() && c.accumulated[ai].first == cid ? c.accumulated[ai].second : 0.f;
        cand.priority = before + s.weights[cand.index] * nearness(cand.index);
      }
      auto& order = scratch.order;
      order.resize(candidates.size());
      for (size_t k = 0; k < order.size(); ++k) order[k] = k;
      std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        if (candidates[a].priority != candidates[b].priority) return candidates[a].priority > candidates[b].priority;
        return s.ids[candidates[a].index] < s.ids[candidates[b].index];
      });
      std::fill(chosen.begin(), chosen.end(), 0);
      size_t sent = 0;
      for (size_t k : order) {
        // Strict priority order: stop at the first that does not fit, so a big entity at the
        // top is not passed over for ever by small ones; one always goes (no starvation).
        if (sent > 0 && used + candidates[k].bits > budget_bits) break;
        chosen[k] = 1, used += candidates[k].bits, ++sent;
      }
      stats.deferred += candidates.size() - sent;
      // Chosen ones leave the accumulator; the rest stay in id order.
      auto& acc = scratch.acc;
      acc.clear();
      for (size_t k = 0; k < candidates.size(); ++k)
        if (!chosen[k]) acc.emplace_back(s.ids[candidates[k].index], candidates[k].priority);
      std::swap(c.accumulated, acc);  // the old buffer stays as scratch
    }
  }

  // Write.
  const size_t start = out.size();
  BitWriter w(&out);
  w.u(32, s.tick);
  w.v(7, base ? s.tick - base->tick : 0);
  if (base) {
    w.u(1, dw.any ? 1 : 0);
    if (dw.any)
      for (uint8_t width : dw.widths) w.u(5, width);
  }
  w.v(7, uint32_t(removed.size()));
  uint32_t prev = 0;
  for (uint32_t id : removed) w.v(3, id - prev - 1), prev = id;
  std::vector<size_t>& creates = scratch.creates;
  std::vector<size_t>& updates = scratch.updates;
  creates.clear(), updates.clear();
  for (size_t k = 0; k < candidates.size(); ++k) {
    if (!chosen[k]) continue;
    (candidates[k].entry == none ? creates : updates).push_back(k);
  }
  // Both lists are in id order already: so are the candidates.
  w.v(7, uint32_t(creates.size()));
  prev = 0;
  for (size_t k : creates) {
    uint32_t id = s.ids[candidates[k].index];
    w.v(3, id - prev - 1), prev = id;
    const EntityBits& eb = entity_bits[candidates[k].index];
    w.append(eb.create, eb.create_bits);
  }
  w.v(7, uint32_t(updates.size()));
  prev = 0;
  for (size_t k : updates) {
    const Candidate& cand = candidates[k];
    uint32_t id = s.ids[cand.index];
    w.v(3, id - prev - 1), prev = id;
    // The cache holds this entry's update: update_bits() was asked for it above, and no
    // other entry of this client names the same entity.
    const EntityBits& eb = entity_bits[cand.index];
    w.append(eb.update, eb.update_bits);
  }
  w.flush();  // out is read below

  // The new frame: kept entries (sent updates now at this tick; deferred ones keep their old
  // source), plus the creates sent. Deferred creates stay out.
  std::vector<FrameEntry>& entries = scratch.frame;
  entries.clear();
  entries.reserve(kept.size() + creates.size());
  for (size_t k = 0; k < kept.size(); ++k) {
    FrameEntry e = kept[k];
    if (kept_candidate[k] != none && chosen[kept_candidate[k]])
      e.source = s.tick, e.mask = s.masks[candidates[kept_candidate[k]].index];
    entries.push_back(e);
  }
  for (size_t k : creates) entries.push_back({s.ids[candidates[k].index], s.tick, s.masks[candidates[k].index]});
  // Both runs are sorted by id already.
  std::inplace_merge(entries.begin(), entries.begin() + long(kept.size()), entries.end(),
                     [](const FrameEntry& x, const FrameEntry& y) { return x.id < y.id; });
  const bool deferred_any = std::find(chosen.begin(), chosen.end(), uint8_t(0)) != chosen.end();
  if (shareable && !deferred_any && shared.size() < max_shared) {
    // Copied before push_frame (base points into c.frames, whose oldest slot it may reuse).
    shared.push_back({!base, base ? base->tick : 0, base ? base->entries : std::vector<FrameEntry>{}, c.groups,
                      bps, out.substr(start), entries});
  }
  const bool full = !base;
  push_frame(c, s.tick, entries);

  ++stats.snapshots;
  if (full) ++stats.full_snapshots;
  stats.bytes += out.size() - start;
}

const DeltaWidths& Replicator::Impl::widths_for(uint32_t ago) {
  for (const DeltaWidths& d : delta_widths)
    if (d.ago == ago) return d;
  DeltaWidths d;
  d.ago = ago;
  d.widths.assign(delta_fields, 0);
  const RoomSnapshot& s = history.back();
  const RoomSnapshot* b = ago > 0 && ago <= s.tick ? snapshot_at(s.tick - ago) : nullptr;
  if (b && delta_fields > 0) {
    // hist[field * 34 + z]: changes of that field whose largest zigzagged axis needs z bits.
    std::vector<uint32_t>& hist = scratch.hist;
    hist.assign(size_t(delta_fields) * 34, 0);
    size_t j = 0;
    for (size_t i = 0; i < s.ids.size(); ++i) {
      if (s.changed[i] <= b->tick) continue;
      while (j < b->ids.size() && b->ids[j] < s.ids[i]) ++j;
      if (j == b->ids.size()) break;
      if (b->ids[j] != s.ids[i]) continue;
      uint32_t at = s.offsets[i], bat = b->offsets[j];
      for (size_t c = 0; c < components.size(); ++c) {
        const bool now = s.masks[i] & (1u << c), then = b->masks[j] & (1u << c);
        if (now && then) {
          uint32_t a = at, ba = bat, f = first_delta[c];
          for (const FieldPlan& fld : plans[c]) {
            const uint32_t n = fld.axes;
            if (fld.delta) {
              uint32_t z = 0;
              bool diff = false;
              for (uint32_t k = 0; k < n; ++k) {
                diff |= s.values[a + k] != b->values[ba + k];
                z = std::max(z, bitwidth(zigzag(int64_t(s.values[a + k]) - int64_t(b->values[ba + k]))));
              }
              if (diff) ++hist[size_t(f) * 34 + z];
              ++f;
            }
            a += n, ba += n;
          }
        }
        if (now) at += slots[c];
        if (then) bat += slots[c];
      }
    }
    for (size_t c = 0; c < components.size(); ++c) {
      uint32_t f = first_delta[c];
      for (const FieldPlan& fld : plans[c]) {
        if (!fld.delta) continue;
        const uint64_t axes = fld.axes, bits = fld.bits;
        const uint32_t* h = &hist[size_t(f) * 34];
        uint64_t total = 0;
        for (uint32_t z = 0; z < 34; ++z) total += h[z];
        uint64_t best = total * axes * bits;  // plain values, no flag
        uint32_t best_width = 0, fitting = 0;
        for (uint32_t width = 1; width <= std::min<uint64_t>(max_delta_width, bits); ++width) {
          fitting += h[width] + (width == 1 ? h[0] : 0);
          uint64_t cost = 5 + total + fitting * axes * width + (total - fitting) * axes * bits;
          if (cost < best) best = cost, best_width = width;
        }
        d.widths[f++] = uint8_t(best_width);
        d.any |= best_width > 0;
      }
    }
  }
  delta_widths.push_back(std::move(d));
  return delta_widths.back();
}

uint32_t Replicator::Impl::create_bits(size_t i) {
  EntityBits& eb = entity_bits[i];
  if (eb.create_serial != capture_serial) {
    eb.create.clear();
    BitWriter w(&eb.create);
    write_create(w, history.back(), i);
    eb.create_bits = uint32_t(w.bits());
    eb.create_serial = capture_serial;
  }
  return eb.create_bits;
}

uint32_t Replicator::Impl::update_bits(size_t i, const FrameEntry& e, const DeltaWidths& dw) {
  EntityBits& eb = entity_bits[i];
  if (eb.update_serial == capture_serial && eb.update_source == e.source && eb.update_mask == e.mask &&
      eb.update_ago == dw.ago)
    return eb.update_bits;
  const RoomSnapshot* src = nullptr;
  size_t j = RoomSnapshot::npos;
  if (history.size() > 1 && history[history.size() - 2].tick == e.source) {
    src = &history[history.size() - 2];
    j = prev_index[i];
  } else if ((src = snapshot_at(e.source))) {
    j = src->find(e.id);
  }
  if (src && j == RoomSnapshot::npos) src = nullptr;
  eb.update.clear();
  BitWriter w(&eb.update);
  eb.update_bits = write_update(&w, history.back(), i, src, j, e.mask, dw) ? uint32_t(w.bits()) : 0;
  eb.update_source = e.source, eb.update_mask = e.mask, eb.update_ago = dw.ago, eb.update_serial = capture_serial;
  return eb.update_bits;
}

void Replicator::Impl::push_frame(Client& c, uint32_t tick, const std::vector<FrameEntry>& entries) {
  Frame& frame = c.frames.push(options.baseline_window);
  frame.tick = tick;
  frame.entries.assign(entries.begin(), entries.end());
  if (c.has_ack && c.frames.front().tick > c.acked) c.has_ack = false;
}

void Replicator::Impl::ack(SessionId session, uint32_t tick) {
  auto cit = clients.find(session);
  if (cit == clients.end()) return;
  Client& c = cit->second;
  if (!sent_frame(c, tick)) {
    ++stats.acks_ignored;  // never sent to this client, out of its window, or in the future
    return;
  }
  // An older ack arriving late is fine: the newest one stands.
  if (!c.has_ack || tick > c.acked) c.has_ack = true, c.acked = tick;
}

}  // namespace craft::sync
