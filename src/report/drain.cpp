#include "report/drain.hpp"

#include <algorithm>
#include <cmath>

#include "base/format.hpp"
#include "report/human.hpp"
#include "report/json_report.hpp"

namespace vmp::report {

namespace {

std::string cell(std::string s, std::size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s + " ";
}

std::string rate_mib(double bytes_per_s) {
  char b[32];
  std::snprintf(b, sizeof b, "%.0f MiB/s", bytes_per_s / 1048576);
  return b;
}

// Text wrapped at 100 columns, each line after the first indented by two.
std::string wrapped(const std::string& text) {
  std::string out, line, word;
  auto flush_word = [&] {
    if (word.empty()) return;
    if (!line.empty() && line.size() + 1 + word.size() > 100) {
      out += line + "\n";
      line = "  ";
    }
    line += (line.empty() || line == "  " ? "" : " ") + word;
    word.clear();
  };
  for (char c : text) {
    if (c == ' ') {
      flush_word();
    } else {
      word += c;
    }
  }
  flush_word();
  return out + line + "\n";
}

// The order's rule as a script compares it (JSON order_by); kOrderRule says it in words.
constexpr const char* kOrderBy = "alone-first-then-longest";
constexpr const char* kOrderRule =
    "domains that converge only with the link to themselves first, one at a time; then the "
    "longest first (the short ones fill in at the end)";

// A plan's migration of domain `d`, if it has one.
const model::DrainMigration* migration_of(const std::optional<model::DrainPlan>& plan,
                                          std::size_t d) {
  if (!plan) return nullptr;
  for (const auto& m : plan->migrations) {
    if (m.domain == d) return &m;
  }
  return nullptr;
}

nlohmann::json ends_json(const DrainInterval& e) {
  return {{"low", rounded_ms(e.low)},
          {"high", e.high ? nlohmann::json(rounded_ms(*e.high)) : nlohmann::json()}};
}

// One migration's time at the drain's two ends (drain_interval); null without the ends; where
// the plan or the favourable end does not converge, the two ends as they are.
nlohmann::json migration_interval_json(const DrainReport& r, const model::DrainMigration& m) {
  const auto* low = migration_of(r.low, m.domain);
  const auto* high = migration_of(r.high, m.domain);
  if (!low || !high) return nullptr;
  if (!m.result.converges() || !low->result.converges()) {
    return interval_json({low->result, high->result}, &model::PrecopyResult::total_time_ms);
  }
  const auto high_ms = high->result.converges()
                           ? std::optional<double>(high->result.total_time_ms)
                           : std::nullopt;
  return ends_json(drain_interval(m.result.total_time_ms, low->result.total_time_ms, high_ms));
}

// The drain's total at its two ends (drain_interval); nullopt without the ends, or where the
// plan or the favourable end does not converge.
std::optional<DrainInterval> total_interval(const DrainReport& r) {
  if (!r.low || !r.high || r.plan.migrations.empty() || !r.plan.all_converge ||
      !r.low->all_converge) {
    return std::nullopt;
  }
  const auto high_ms =
      r.high->all_converge ? std::optional<double>(r.high->total_ms) : std::nullopt;
  return drain_interval(r.plan.total_ms, r.low->total_ms, high_ms);
}

// Where the plan's steps before each migration sends came from: a domain's arrival here (its
// own or lent), or the default of other hosts.
std::string steps_source(const DrainReport& r) {
  const std::string lead = "libvirt's steps before each migration sends: ";
  for (const auto& m : r.plan.migrations) {
    const auto& l = r.domains[m.domain].libvirt_steps;
    if (!l.seen_here) continue;
    const std::string who = l.seen_from.empty() ? r.domains[m.domain].subject : l.seen_from;
    return lead + "as this host saw them when " + printable(who) + " migrated here (" +
           format_duration(l.fixed_ms) + ").";
  }
  const auto& l = r.domains[r.plan.migrations.front().domain].libvirt_steps;
  return lead + "not timed on this host, as no domain here came by migration: " +
         format_duration(l.fixed_ms) + " between two hosts measured on " + l.measured_on +
         "; a host slow to start QEMU takes longer.";
}

nlohmann::json total_interval_json(const DrainReport& r) {
  if (!r.low || !r.high || r.plan.migrations.empty()) return nullptr;
  if (const auto e = total_interval(r)) return ends_json(*e);
  auto end = [](const model::DrainPlan& p) {
    return p.all_converge ? rounded_ms(p.total_ms) : nlohmann::json();
  };
  return {{"low", end(*r.low)}, {"high", end(*r.high)}};
}

}  // namespace

DrainInterval drain_interval(double plan, double low, std::optional<double> high) {
  DrainInterval e{std::min(low, plan), high};
  if (high) {
    e.low = std::min(e.low, *high);
    e.high = std::max({*high, plan, low});
  }
  return e;
}

const DrainAlternative* faster_alternative(const DrainReport& r) {
  const DrainAlternative* best = nullptr;
  for (const auto& a : r.alternatives) {
    if (!a.all_converge || a.concurrent == r.plan.concurrent) continue;
    if (!best || a.total_ms < best->total_ms) best = &a;
  }
  if (best && best->total_ms <= 0.9 * r.plan.total_ms) return best;
  return nullptr;
}

void write_drain_human(std::ostream& out, const DrainReport& r) {
  const auto& p = r.plan;
  const std::size_t planned = p.migrations.size();
  out << "Drain of " << planned << " domain" << (planned == 1 ? "" : "s") << " over a "
      << format_rate(p.link_bytes_per_s) << " link, " << p.concurrent << " at once: ";
  if (planned == 0) {
    out << "nothing to migrate.\n";
  } else {
    out << format_duration(p.total_ms) << " until the last virsh migrate returns; "
        << (p.all_converge ? (planned == 1 ? "it converges" : "all converge")
                           : "NOT all converge")
        << ".\n";
    if (const auto e = total_interval(r)) {
      if (e->high) {
        out << "Interval: " << format_duration(e->low) << " to " << format_duration(*e->high)
            << " (every domain at the favourable, then the unfavourable end of its own "
               "interval).\n";
      } else {
        out << "Interval: from " << format_duration(e->low)
            << "; with every domain at the unfavourable end of its own interval, NOT all "
               "converge.\n";
      }
    }
  }
  if (planned > 0) {
    out << cell("order", 5) << cell("domain", 16) << cell("start", 7) << cell("migration", 9)
        << cell("pause", 7) << cell("rate", 9) << cell("alone", 7) << "\n";
    int n = 0;
    for (const auto& m : p.migrations) {
      const Report& d = r.domains[m.domain];
      std::string time = m.result.converges() ? format_duration_compact(m.result.total_time_ms)
                                              : "never";
      std::string pause = m.result.converges() ? format_duration_compact(m.result.downtime_ms)
                                               : "-";
      out << cell(std::to_string(++n), 5) << cell(printable(d.subject), 16)
          << cell(format_duration_compact(m.launch_ms), 7) << cell(time, 9) << cell(pause, 7)
          << cell(rate_mib(m.mean_bandwidth_bytes_per_s), 9)
          << cell(format_duration_compact(m.alone_result.total_time_ms), 7)
          << (m.alone && p.concurrent > 1 ? "runs alone: it converges only with the link to itself"
                                          : "")
          << "\n";
    }
  }
  if (!p.left_out.empty()) {
    out << "Left out, not converging even with the link to itself:\n";
    for (std::size_t i : p.left_out) out << "  " << summary_line(r.domains[i]) << "\n";
  }
  if (!r.failures.empty()) {
    out << "Not measured:\n";
    for (const auto& f : r.failures) out << "  " << printable(f.subject) << ": " << f.message << "\n";
  }
  if (const auto* a = faster_alternative(r)) {
    out << "With --concurrent " << a->concurrent << " the drain takes "
        << format_duration(a->total_ms) << " ("
        << format_percent(a->total_ms / p.total_ms - 1) << "), every migration converging.\n";
  }
  if (planned > 1) {
    out << wrapped(
        std::string("Order: ") + kOrderRule +
        ". start: when virsh migrate runs, one at a time: each once those started before it "
        "are sending; migration: libvirt's job (domjobinfo); rate: its "
        "mean share of the link; alone: its time with the link to itself. A slot is free again "
        "when virsh migrate returns, about " +
        format_duration(r.domains[p.migrations.front().domain].libvirt_steps.after_ms) +
        " after the migration.");
  }
  if (planned > 0) out << wrapped(steps_source(r));
}

nlohmann::json drain_to_json(const DrainReport& r) {
  const auto& p = r.plan;
  auto migrations = nlohmann::json::array();
  int n = 0;
  for (const auto& m : p.migrations) {
    const Report& d = r.domains[m.domain];
    const bool ok = m.result.converges();
    const auto& cap = d.settings.bandwidth_bytes_per_s;
    migrations.push_back({
        {"order", ++n},
        {"domain", d.subject},
        {"alone", m.alone},
        {"converges", ok},
        {"launch_ms", rounded_ms(m.launch_ms)},
        {"end_ms", rounded_ms(m.end_ms)},
        {"returns_ms", rounded_ms(m.free_ms)},
        {"total_time_ms", ok ? rounded_ms(m.result.total_time_ms) : nlohmann::json()},
        {"total_time_interval_ms", migration_interval_json(r, m)},
        {"qemu_total_time_ms", ok ? rounded_ms(m.result.qemu_total_time_ms) : nlohmann::json()},
        {"downtime_ms", ok ? rounded_ms(m.result.downtime_ms) : nlohmann::json()},
        {"transferred_bytes", m.result.transferred_bytes},
        {"mean_bandwidth_bytes_per_s", m.mean_bandwidth_bytes_per_s},
        {"cap_bytes_per_s", !d.settings.bandwidth_is_link && cap.value ? nlohmann::json(*cap.value)
                                                                        : nlohmann::json()},
        {"alone_total_time_ms", rounded_ms(m.alone_result.total_time_ms)},
        {"alone_downtime_ms", rounded_ms(m.alone_result.downtime_ms)},
    });
  }
  auto left_out = nlohmann::json::array();
  for (std::size_t i : p.left_out) left_out.push_back(r.domains[i].subject);
  auto alternatives = nlohmann::json::array();
  for (const auto& a : r.alternatives) {
    alternatives.push_back({{"concurrent", a.concurrent},
                            {"total_time_ms", rounded_ms(a.total_ms)},
                            {"all_converge", a.all_converge}});
  }
  auto domains = nlohmann::json::array();
  for (const auto& d : r.domains) domains.push_back(to_json(d));
  for (const auto& f : r.failures) {
    domains.push_back(error_json(f.subject, f.message, f.status, f.key));
  }
  const auto* faster = faster_alternative(r);
  return {{"drain",
           {{"link_bytes_per_s", p.link_bytes_per_s},
            {"concurrent", p.concurrent},
            {"total_time_ms", rounded_ms(p.migrations.empty() ? 0.0 : p.total_ms)},
            {"total_time_interval_ms", total_interval_json(r)},
            {"all_converge", p.all_converge},
            {"order_by", kOrderBy},
            {"order_rule", kOrderRule},
            {"migrations", migrations},
            {"left_out", left_out},
            {"concurrency", alternatives},
            {"faster_concurrent", faster ? nlohmann::json(faster->concurrent) : nlohmann::json()}}},
          {"domains", domains}};
}

}  // namespace vmp::report
